"""Non-LLM activities of the ticket pipeline: configuration snapshot, knowledge base, delivery."""

from temporalio import activity

from activities.knowledge_base import KnowledgeBase
from activities.outbox import Outbox
from shared import names
from shared.agents import KnowledgeArticle, KnowledgeQuery
from shared.pipeline_config import PipelineConfig
from shared.view import DeliveryReceipt, DeliveryRequest


class TicketActivities:
    """Registered on the tickets task queue, next to the workflows."""

    def __init__(
        self, config: PipelineConfig, knowledge_base: KnowledgeBase, outbox: Outbox
    ) -> None:
        self._config = config
        self._kb = knowledge_base
        self._outbox = outbox

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_pipeline_config(self) -> PipelineConfig:
        return self._config

    @activity.defn(name=names.SEARCH_KNOWLEDGE_BASE)
    async def search_knowledge_base(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        return self._kb.search(query)

    @activity.defn(name=names.DELIVER_RESPONSE)
    async def deliver_response(self, request: DeliveryRequest) -> DeliveryReceipt:
        receipt = await self._outbox.deliver(
            request.ticket_id, request.channel, request.customer_id, request.revision, request.text
        )
        if receipt.already_delivered:
            activity.logger.info(
                "ticket %s was already delivered; not writing again", request.ticket_id
            )
        return receipt

    def all(self) -> list[object]:
        return [self.load_pipeline_config, self.search_knowledge_base, self.deliver_response]
