"""The provider interface every backend implements: offline rules, OpenAI, Anthropic."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from shared.agents import AgentReply, AgentRole

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


@dataclass(frozen=True)
class AgentSpec(Generic[InT, OutT]):
    """An agent: a role, what it reads, what it must produce, and how it is prompted."""

    role: AgentRole
    input_model: type[InT]
    output_model: type[OutT]
    instructions: str  # the system prompt
    render_input: Callable[[InT], str]  # the user message built from the input


class ProviderError(Exception):
    """Base of provider failures; subclasses say whether a retry can help."""


class Provider(ABC):
    """One backend. Implementations are async and never block the event loop."""

    name: str

    @property
    def declared_rate(self) -> float | None:
        """The request limit the provider declares in its answers' headers, requests per second
        (rate_headers.py); None when it declares none. Read by the adaptive controller's
        reports (activities/rate_reports.py)."""
        return None

    @abstractmethod
    async def run(self, spec: AgentSpec[InT, OutT], request: InT, model: str) -> AgentReply[OutT]:
        """Produce ``spec.output_model`` for ``request`` with ``model``, plus the call's usage."""

    async def check(self, models: Collection[str] = ()) -> str | None:
        """Called once when the worker starts with the models the routes name for it. Raises
        ``ProviderCheckError`` when the provider cannot work at all (a rejected key); returns a
        warning when it could not be verified, or does not list one of ``models``."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections when the worker stops."""
