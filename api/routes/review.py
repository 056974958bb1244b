"""Review: a person's decision on a ticket waiting for one, through the workflow's
``submit_review`` update, which refuses a review that cannot apply (ticket not waiting, draft
changed since the reviewer looked) instead of recording it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ValidationError

from api.accounts import Account, Role
from api.deps import READ_COUNTED, read_within, require, temporal
from api.errors import ApiError, field_problem, responses
from api.json_body import OnceEachJSONRoute
from api.models import ReviewRequest
from api.temporal import TemporalConnection
from shared import review_operations
from shared.review import ReviewDecision, ReviewReceipt
from shared.tickets import TICKET_ID_PATTERN

router = APIRouter(tags=["review"], route_class=OnceEachJSONRoute)


def decision_for(account: Account, request: ReviewRequest) -> ReviewDecision:
    """The workflow's decision, with the reviewer taken from the token."""
    try:
        return ReviewDecision(reviewer=account.name, **request.decision_fields())
    except ValidationError as err:
        problems = [field_problem(dict(e)) for e in err.errors()]
        raise ApiError(422, "the review is not valid: " + "; ".join(problems), problems) from None


@router.post(
    "/tickets/{ticket_id}/review",
    response_model=ReviewReceipt,
    responses=responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503, 504),
    summary="approve, edit, rework or reject a ticket waiting for review",
    description=(
        "`revision` is the draft revision you looked at: if the draft changed since, the review "
        "is refused with 409 and you look again. Edit needs `edited_text`, rework `notes`, "
        "reject `reason`. The reviewer recorded is the token's name. Needs the `review` role."
    ),
)
async def review_ticket(
    request: Request,
    ticket_id: Annotated[str, Path(pattern=TICKET_ID_PATTERN)],
    body: ReviewRequest,
    account: Annotated[Account, Depends(require(Role.REVIEW))],
    connection: Annotated[TemporalConnection, Depends(temporal)],
) -> ReviewReceipt:
    # Each review reads the ticket (a describe, its queue's pollers, a status query): from the
    # token's read allowance, or stale reviews in a loop loaded Temporal and the workers. Taken by
    # the token-first middleware before the body was read (a body that does not parse counts).
    if not getattr(request.state, READ_COUNTED, False):
        read_within(request.app, account)
    decision = decision_for(account, body)  # a bad review is a 422 whether Temporal answers or not
    client = await connection.client()
    # A review without `waiting_since` is taken as made in the wait the ticket is in now, as the
    # CLI's is: sent as it was, the ticket skipped the check, and an approval read before another
    # reviewer's failed rework approved the draft that reviewer had sent back.
    return await review_operations.submit_review(
        client, ticket_id, decision, current_wait=review_operations.API_WAIT_FIELD
    )
