"""What the API's routes take and return, beyond the models shared with the workflows."""

from datetime import datetime
from typing import Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from shared.operations import SubmitOutcome
from shared.pending_calls import PendingCall
from shared.review import (
    MAX_EDITED_CHARS,
    MAX_NOTES_CHARS,
    MAX_REASON_CHARS,
    MAX_REVISION,
    ReviewAction,
    one_break,
    run_id_chain,
)
from shared.run_spend import EarlierRuns
from shared.ticket_status import TicketReading
from shared.ticket_summary import TicketSummary
from shared.tickets import Channel, CustomerTier, Ticket
from shared.view import TicketView


class IntakeAccepted(BaseModel):
    index: int = Field(description="position of the ticket in the request (0 for a single one)")
    ticket_id: str
    status: str = Field(description="'submitted', or 'duplicate' when it was submitted before")
    state: str | None = Field(
        default=None,
        description="for a duplicate: where it is now (to a token that may read tickets only)",
    )

    @classmethod
    def of(cls, index: int, outcome: SubmitOutcome, *, may_read: bool) -> "IntakeAccepted":
        """``may_read``: the caller's token may read tickets. An intake-only token (the one
        most likely to leak, from a web form or a mail gateway) "does not read": a duplicate's
        state told it where someone else's ticket of that content or id stood."""
        status = "submitted" if outcome.started else "duplicate"
        state = outcome.state if may_read else None
        return cls(index=index, ticket_id=outcome.ticket_id, status=status, state=state)


class IntakeRefused(BaseModel):
    index: int
    problems: list[str] = Field(description="what is wrong, each naming the field")


class IntakeResponse(BaseModel):
    accepted: list[IntakeAccepted]
    refused: list[IntakeRefused] = Field(
        description="items that were not submitted; the others went through"
    )


# An e-mail's HTML part, read only when it has no plain text: a reply's markup is a few times
# its words (a 20,000-character body in a styled template ~200 KB); the body limit bounds all.
MAX_HTML_CHARS: Final = 500_000


class InboundEmail(BaseModel):
    """The minimal JSON an e-mail gateway or a helpdesk webhook sends."""

    # No populate_by_name: a gateway's own "sender" member (the envelope sender, a bounce
    # address) stood in for a missing "from", and the answer went to the bounce address.
    model_config = ConfigDict(extra="ignore")

    sender: str = Field(
        alias="from",
        max_length=998,
        description="the sender: `ana@example.com` or `Ana <ana@example.com>`; its address becomes "
        "customer_id and customer_email",
    )
    subject: str = Field(default="", description="cut to 200 characters; '(no subject)' if empty")
    text: str = Field(
        default="",
        description="the message's plain text; becomes the ticket's body (required unless `html` "
        "is given)",
    )
    html: str | None = Field(
        default=None,
        max_length=MAX_HTML_CHARS,
        description="the message's HTML part: its words become the body when `text` is empty, "
        "null or missing (an e-mail sent as HTML only)",
    )
    message_id: str | None = Field(
        default=None,
        max_length=998,
        description="the e-mail's Message-ID: the same message delivered twice is one ticket",
    )

    @field_validator("text", mode="before")
    @classmethod
    def _no_text(cls, value: object) -> object:
        # A gateway sends null for a message with no plain part: an HTML-only e-mail was still
        # refused (422) where an empty text takes the HTML's words.
        return "" if value is None else value

    @field_validator("subject", mode="before")
    @classmethod
    def _no_subject(cls, value: object) -> object:
        # A mail gateway sends null for an e-mail without a Subject: the e-mail was refused (422)
        # where an empty subject is read as "(no subject)".
        return "" if value is None else value

    @field_validator("sender")
    @classmethod
    def _someone(cls, value: str) -> str:
        # An empty From made a ticket with no customer and nowhere for an answer to go.
        if not value.strip():
            raise ValueError("is empty: the sender is the ticket's customer")
        return value


class CustomerMessage(BaseModel):
    subject: str
    body: str
    customer_id: str | None
    customer_tier: CustomerTier
    channel: Channel
    customer_email: str | None = Field(
        default=None,
        description="where an answer by e-mail goes (null: none given; on the email channel, "
        "with e-mail delivery configured, such a ticket's answer cannot be sent)",
    )

    @classmethod
    def of(cls, ticket: Ticket) -> "CustomerMessage":
        return cls.model_validate(ticket.model_dump(exclude={"ticket_id"}))


class TicketStatus(TicketView):
    """The workflow's view, with the state a stopped workflow is really in."""

    state: str = Field(  # type: ignore[assignment]
        description="the ticket's state; the workflow's status (TERMINATED, TIMED_OUT) when its "
        "workflow was stopped from outside before reaching a final state"
    )
    waiting_since: datetime | None = Field(
        default=None,
        description="while AWAITING_REVIEW: when this wait for review began; give it with a "
        "review (POST /tickets/{id}/review) so that one made before a rework came back is refused",
    )

    @classmethod
    def of(cls, reading: TicketReading) -> "TicketStatus":
        view = reading.view
        # Not for a workflow stopped from outside while it waited: it takes no review.
        waiting = view.review_wait_began() if reading.awaiting_review else None
        fields = {**view.model_dump(), "state": reading.state, "waiting_since": waiting}
        return cls.model_validate(fields)


class TicketDetail(BaseModel):
    ticket_id: str
    message: CustomerMessage | None = Field(
        description="what the customer wrote (the workflow's input); null when that input does "
        "not read as a ticket (message_problem says which fields)"
    )
    message_problem: str | None = Field(
        default=None,
        description="why there is no message: the fields of the input that do not read as a ticket",
    )
    status: TicketStatus = Field(description="the workflow's view: state, draft, log, usage")
    workflow_status: str = Field(
        description="the workflow's status: RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, ..."
    )
    earlier_runs: EarlierRuns | None = Field(
        default=None,
        description="what the runs this one replaced spent (a failed ticket started again); "
        "status.usage is this run's own, the listings' totals add both; null for a first run",
    )
    pending_calls: list[PendingCall] = Field(
        default_factory=list,
        description="what a running ticket's workflow waits on besides a person: agent calls "
        "and deliveries queued, running or waiting out a retry (the last failure says why), "
        "and whether any worker polls their queue",
    )


class TicketPage(BaseModel):
    tickets: list[TicketSummary]
    next_page_token: str | None = Field(
        description="pass as page_token for the next page; null on the last page"
    )


class ReviewQueue(BaseModel):
    tickets: list[TicketSummary] = Field(description="oldest SLA deadline first")
    escalated: int
    truncated: bool = Field(description="more tickets wait than one answer lists")


class ReviewRequest(BaseModel):
    """A review decision. Who reviews comes from the token, never from the body."""

    model_config = ConfigDict(extra="forbid")

    action: ReviewAction
    # Strict: the concurrency guard takes a number, not true (read as 1) or "1".
    revision: StrictInt | None = Field(
        ge=1,
        le=MAX_REVISION,
        description="the draft revision you reviewed; null only when the ticket had no draft. A "
        "review of an older draft, or null once a draft exists, is refused with 409",
    )
    chain: str | None = Field(
        default=None,
        max_length=64,
        description="the ticket's `chain` as GET /tickets/{id} showed it: a review made for an "
        "earlier ticket under this id (one that failed and was submitted again) is refused with "
        "409 instead of applied to the new ticket's draft",
    )
    waiting_since: AwareDatetime | None = Field(
        default=None,
        description="the ticket's `waiting_since` as GET /tickets/{id} showed it: a review made "
        "before the ticket was sent back for rework and came back (with the same draft revision "
        "when the rework failed) is refused with 409 instead of applied",
    )
    edited_text: str | None = Field(default=None, max_length=MAX_EDITED_CHARS)
    notes: str | None = Field(default=None, max_length=MAX_NOTES_CHARS)
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)

    @field_validator("chain")
    @classmethod
    def _chain_is_a_run_id(cls, value: str | None) -> str | None:
        # A chain is a run id (a UUID): anything else was refused as "a review for an earlier
        # ticket under this id", which sent the caller looking for a resubmission.
        try:
            return run_id_chain(value)
        except ValueError:
            raise ValueError(
                f"{value[:64]!r} is not a ticket's chain: give the `chain` GET /tickets/{{id}} "
                "shows (a run id), or leave it out"
            ) from None

    @field_validator("edited_text", "notes", "reason", mode="before")
    @classmethod
    def _one_break(cls, value: object) -> object:
        # CRLF counted and sent as one break, as the console's form is.
        return one_break(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _approve_names_its_draft(self) -> "ReviewRequest":
        if self.action is ReviewAction.APPROVE and self.revision is None:
            raise ValueError("an approval needs the revision of the draft you approve")
        # A field the action does not read was recorded with it ("approve" with a reason)
        # while nothing acted on it.
        for field, reader in (
            ("edited_text", ReviewAction.EDIT),
            ("notes", ReviewAction.REWORK),
            ("reason", ReviewAction.REJECT),
        ):
            if getattr(self, field) is not None and self.action is not reader:
                raise ValueError(
                    f"{field} is only read by action '{reader.value}' (this is "
                    f"'{self.action.value}')"
                    + ("; to send your text, edit" if field == "edited_text" else "")
                )
        return self

    def decision_fields(self) -> dict[str, Any]:
        fields = self.model_dump(exclude_none=True)
        if self.revision is None:  # refused if a draft has been written since (review_gate.py)
            fields["saw_no_draft"] = True
        return fields


class Health(BaseModel):
    status: str
    temporal: str | None = None
