"""What the OpenAI and Anthropic provider tests share: requests for every agent, a valid answer,
a closed-schema check and a port nobody listens on."""

import socket
from collections.abc import Awaitable
from typing import Any

import pytest
from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from activities.agent_specs import CLASSIFIER, RESOLVER, TRIAGE, VALIDATOR
from activities.providers.base import AgentSpec
from shared.agents import (
    AgentRole,
    Category,
    Classification,
    ClassifyRequest,
    Draft,
    DraftRequest,
    KnowledgeArticle,
    Priority,
    TriageRequest,
    ValidateRequest,
)
from shared.tickets import Ticket

API_KEY = "sk-test-secret-123456"
# The fake rejects GET /v1/models when the key contains "rejected".
REJECTED_KEY = "sk-rejected-secret-987654"
# A key that does not look like one: only the literal-secret scrubbing can hide it.
PLAIN_KEY = "local-token-abcdef-42"

TICKET = Ticket(
    ticket_id="T-provider-1",
    subject="Cannot reset my password",
    body="The reset e-mail never arrives. What should I do?",
)
CLASSIFICATION = Classification(
    category=Category.ACCOUNT, confidence=0.92, rationale="password reset"
)
VALID_CLASSIFICATION: dict[str, Any] = {
    "category": "Account",
    "confidence": 0.92,
    "rationale": "password reset",
}
# Valid JSON, wrong enum value: the repair message must name the field.
WRONG_CATEGORY: dict[str, Any] = {"category": "Nope", "confidence": 0.5, "rationale": "unsure"}
ARTICLE = KnowledgeArticle(
    article_id="KB-101",
    title="Password reset",
    category=Category.ACCOUNT,
    answer="Use the reset link on the sign-in page.",
)

ALL_SPECS = [
    pytest.param(CLASSIFIER, id="classifier"),
    pytest.param(TRIAGE, id="triage"),
    pytest.param(RESOLVER, id="resolver"),
    pytest.param(VALIDATOR, id="validator"),
]


class Window(BaseModel):
    days: int = Field(default=1, ge=1, le=30, title="Days")


class Reminder(BaseModel):
    note: str = Field(default="none", max_length=50)
    window: Window = Window()
    tags: list[str] = ["later"]


# None of the pipeline's output models has a JSON-schema "default"; this one has several, nested
# under $defs and beside a $ref, plus keywords strict structured output rejects (maxLength, title).
REMINDER_SPEC = AgentSpec(
    role=AgentRole.CLASSIFIER,
    input_model=ClassifyRequest,
    output_model=Reminder,
    instructions="Set a reminder.",
    render_input=lambda r: r.ticket.subject,
)
VALID_REMINDER: dict[str, Any] = {"note": "call back", "window": {"days": 2}, "tags": []}


def classify_request() -> ClassifyRequest:
    return ClassifyRequest(ticket=TICKET)


def request_for(spec: AgentSpec[Any, Any]) -> BaseModel:
    if spec is CLASSIFIER:
        return classify_request()
    if spec is TRIAGE:
        return TriageRequest(ticket=TICKET, classification=CLASSIFICATION)
    if spec is RESOLVER:
        return DraftRequest(
            ticket=TICKET,
            classification=CLASSIFICATION,
            priority=Priority.MEDIUM,
            articles=[ARTICLE],
            revision=1,
        )
    return ValidateRequest(
        ticket=TICKET,
        classification=CLASSIFICATION,
        draft=Draft(text="Use the reset link on the sign-in page.", cited_articles=["KB-101"]),
        articles=[ARTICLE],
    )


def strictness_problems(schema: Any, path: str = "$") -> list[str]:
    """Everything in a JSON schema that strict structured output refuses: an object that is not
    closed or does not require every property, and any "default"."""
    problems: list[str] = []
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            problems += strictness_problems(item, f"{path}[{i}]")
        return problems
    if not isinstance(schema, dict):
        return problems
    if "default" in schema:
        problems.append(f"{path}: has a default")
    properties = schema.get("properties")
    if schema.get("type") == "object" or properties is not None:
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: additionalProperties is not false")
        if sorted(schema.get("required", [])) != sorted(properties or {}):
            problems.append(f"{path}: not every property is required")
    for key, value in schema.items():
        if key in ("properties", "$defs"):  # name -> schema mappings
            for name, sub in value.items():
                problems += strictness_problems(sub, f"{path}.{key}.{name}")
        elif isinstance(value, dict | list):
            problems += strictness_problems(value, f"{path}.{key}")
    return problems


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_key_hidden(err: ApplicationError, key: str) -> None:
    assert key not in err.message
    assert key not in str(err)
    assert key not in repr(err)
    # Raised "from None": the SDK exception (which holds the request headers) is not the cause.
    assert err.__cause__ is None
    assert err.__suppress_context__


async def raised(awaitable: Awaitable[Any]) -> ApplicationError:
    """The ApplicationError an awaitable raises (fails the test when it raises nothing)."""
    with pytest.raises(ApplicationError) as info:
        await awaitable
    return info.value
