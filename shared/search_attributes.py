"""Typed custom search attributes of ticket workflows.

They let the Web UI and ``temporal workflow list --query "TicketState='AWAITING_REVIEW'"`` find
tickets by where they are. Only workflow metadata goes here: never customer text or anything that
identifies a person (search attributes are indexed in plain text by the visibility store).
"""

from typing import Final

from temporalio.common import SearchAttributeKey

TICKET_STATE: Final = SearchAttributeKey.for_keyword("TicketState")
TICKET_CATEGORY: Final = SearchAttributeKey.for_keyword("TicketCategory")
TICKET_PRIORITY: Final = SearchAttributeKey.for_keyword("TicketPriority")
TICKET_SLA_DEADLINE: Final = SearchAttributeKey.for_datetime("TicketSlaDeadline")
# Set when a ticket awaiting review passed its SLA deadline with nobody deciding.
TICKET_ESCALATED: Final = SearchAttributeKey.for_bool("TicketEscalated")
# Why a ticket waiting for review waits, as codes (policy/review_policy.py REASON_CODES), never
# words: set when it starts waiting, removed when it stops. The review queue shows them.
TICKET_REVIEW_REASONS: Final = SearchAttributeKey.for_keyword_list("TicketReviewReasons")
# When the ticket entered its TicketState (set with each upsert that changes the state; NEW's is
# the run's StartTime): how long a ticket has been where it is (shared/worker_gauges.py).
TICKET_STATE_SINCE: Final = SearchAttributeKey.for_datetime("TicketStateSince")

ALL_KEYS: Final = (
    TICKET_STATE,
    TICKET_CATEGORY,
    TICKET_PRIORITY,
    TICKET_SLA_DEADLINE,
    TICKET_ESCALATED,
    TICKET_REVIEW_REASONS,
    TICKET_STATE_SINCE,
)


def type_name(key: SearchAttributeKey) -> str:  # type: ignore[type-arg]
    """The type as the temporal CLI and the operator API's listings spell it: KeywordList."""
    return "".join(part.title() for part in key.indexed_value_type.name.split("_"))


# The memo (not indexed, shown in the Web UI) may carry the subject and running usage totals.
MEMO_SUBJECT: Final = "subject"
MEMO_USAGE: Final = "usage"
# What the runs a redrive's restart replaced had spent (shared/run_spend.py): set at the start.
MEMO_EARLIER_USAGE: Final = "earlier_runs_usage"
# The chains (first run ids) of the runs a restart replaced, the one it replaced and those that
# one had replaced: an answer of theirs that went out or may have is not sent again by the new
# run (shared/stores/ledger.py): set at the start.
MEMO_REPLACES_CHAINS: Final = "replaces_chains"
# A digest of the ticket's subject, body and customer (no text): a later submission with the
# same id and different content is another ticket whose id collides, not a duplicate.
MEMO_CONTENT: Final = "content"
# When the customer first wrote (ISO 8601), set on a ticket started again after runs that ended
# without an answer: the first run's start, carried along; its SLA runs from it.
MEMO_FIRST_INTAKE: Final = "first_intake"
# Which start made this run, when a retried activity started it (a batch's restart of a ticket):
# the retry finds its own run by it instead of starting another (shared/operations.py).
MEMO_STARTED_BY: Final = "started_by"
