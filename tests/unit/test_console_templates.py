"""What the console's templates show for states the browser tests do not reach in seconds: a
ticket closed as UNANSWERED at its final review deadline, and a queue with escalations."""

import re
from datetime import UTC, datetime, timedelta

from api.accounts import Account, Role
from api.console.rendering import templates
from api.console.session import Session
from api.models import CustomerMessage
from policy.transitions import TicketState
from shared.review import ReviewAction, ReviewDecision, ReviewRecord
from shared.run_spend import EarlierRuns
from shared.ticket_summary import TicketSummary
from shared.view import AgentUsageTotals, DeliveryReceipt, DraftRecord, TicketView, Transition

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SESSION = Session(Account("ana", frozenset({Role.REVIEW})), "csrf-value")
MESSAGE = CustomerMessage(
    subject="<b>Refund</b>",
    body="Please <script>alert(1)</script> refund",
    customer_id="C-1",
    customer_tier="standard",
    channel="email",
)


def render(name: str, **context: object) -> str:
    context = {"earlier_runs": None, **context}  # a ticket's first run, unless a test says
    return templates.get_template(name).render(now=NOW, session=SESSION, **context)


def test_a_ticket_closed_unanswered_says_so_and_offers_no_review() -> None:
    closed = Transition(
        from_state=TicketState.AWAITING_REVIEW,
        to_state=TicketState.UNANSWERED,
        at=NOW,
        agent="policy",
        reason="nobody reviewed the ticket within 168 hours of waiting; closed without sending "
        "anything",
    )
    view = TicketView(
        ticket_id="T-9",
        subject="<b>Refund</b>",
        state=TicketState.UNANSWERED,
        escalated=True,
        transitions=[closed],
    )

    html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=False)

    assert 'id="state">UNANSWERED<' in html
    assert "nobody reviewed the ticket within 168 hours" in html
    assert "approve-form" not in html and "rework-form" not in html
    # Customer text is escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;Refund&lt;/b&gt;" in html


def test_the_queue_flags_escalations_counts_down_and_lists_tickets_closed_unanswered() -> None:
    overdue = TicketSummary(
        ticket_id="T-1",
        workflow_status="RUNNING",
        state="AWAITING_REVIEW",
        priority="Urgent",
        sla_deadline=NOW - timedelta(minutes=20),
        escalated=True,
        subject="Locked out",
    )
    soon = overdue.model_copy(
        update={
            "ticket_id": "T-2",
            "sla_deadline": NOW + timedelta(hours=3, minutes=5),
            "escalated": False,
        }
    )
    gone = overdue.model_copy(update={"ticket_id": "T-3", "state": "UNANSWERED"})

    html = render(
        "queue.html",
        tickets=[overdue, soon],
        waiting=2,
        unanswered=[gone],
        unanswered_count=35,
        notice=None,
        refresh=20,
    )
    # 20,000 wait (a count), the 2 most urgent shown.
    cut = render(
        "queue.html", tickets=[overdue, soon], waiting=20_000, unanswered=[], notice=None,
        refresh=20,
    )  # fmt: skip

    assert "(2 waiting, oldest deadline first" in " ".join(html.split())
    assert "the 2 most urgent of 20000 waiting" in " ".join(cut.split())
    # The reload goes to the queue alone: a decision's notice (?done=...) is not shown again.
    assert '<meta http-equiv="refresh" content="20; url=/console/queue">' in html
    assert "overdue by 20m" in html and "in 3h 05m" in html
    assert html.count("badge escalated") == 1
    assert 'id="unanswered"' in html and "/console/tickets/T-3" in html
    # How many closed unanswered in all, not only the ten shown (a review, 2026-12-07).
    assert "The 1 most recent of 35 closed unanswered" in " ".join(html.split())


def test_what_a_reviewer_typed_in_a_refused_form_is_shown_again() -> None:
    """A 409 (the draft changed), a 403 (the form expired) or a 422 re-renders the page: the
    reviewer's text goes back in its box, not the draft's, and nothing else is lost."""
    view = TicketView(
        ticket_id="T-8",
        subject="Refund",
        state=TicketState.AWAITING_REVIEW,
        draft=DraftRecord(revision=2, text="The resolver's draft.", author="resolver"),
    )
    typed = {"edited_text": "My <careful> answer", "notes": "cite the policy", "reason": None}

    html = render(
        "ticket.html", view=view, message=MESSAGE, error="refused", waiting=True, typed=typed
    )
    fresh = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=True)

    assert "My &lt;careful&gt; answer</textarea>" in html  # escaped, in the edit box
    assert "cite the policy</textarea>" in html
    assert 'rows="3" required></textarea>' in html  # nothing typed: empty
    assert "The resolver&#39;s draft.</textarea>" in fresh


def test_a_ticket_whose_answer_is_queued_for_delivery_says_so_and_offers_no_review() -> None:
    queued = Transition(
        from_state=TicketState.AWAITING_REVIEW,
        to_state=TicketState.DELIVERING,
        at=NOW,
        agent="delivery",
        reason="first attempt failed for now (deliver_response_now failed: DeliveryUnavailable); "
        "queued for delivery with retries",
    )
    view = TicketView(
        ticket_id="T-8",
        subject="Refund",
        state=TicketState.DELIVERING,
        draft=DraftRecord(revision=1, text="We refunded you.", author="resolver"),
        transitions=[queued],
    )

    html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=False)

    assert 'id="state">DELIVERING<' in html
    assert "queued for delivery with retries" in html
    assert "approve-form" not in html and "rework-form" not in html


def test_a_ticket_started_again_shows_what_its_earlier_runs_spent_apart_from_its_own() -> None:
    view = TicketView(ticket_id="T-7", subject="Refund", state=TicketState.RESOLVING)
    earlier = EarlierRuns(runs=2, calls=3, tokens=1234, estimated_tokens=0, cost_usd=0.01234)

    html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=False)
    again = render(
        "ticket.html", view=view, message=MESSAGE, error=None, waiting=False, earlier_runs=earlier
    )

    assert 'id="earlier-runs"' not in html
    said = " ".join(again.split())
    assert "Before this run: 2 earlier run(s) made 3 agent call(s), 1234 tokens, $0.0123" in said


def test_a_reviewer_sees_where_the_answer_goes_or_that_it_has_no_address() -> None:
    view = TicketView(ticket_id="T-8", subject="Refund", state=TicketState.AWAITING_REVIEW)
    addressed = MESSAGE.model_copy(update={"customer_email": "<ana@example.com>"})

    with_address = render("ticket.html", view=view, message=addressed, error=None, waiting=True)
    without = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=True)

    assert '<span id="customer-email">&lt;ana@example.com&gt;</span>' in with_address
    assert '<span id="customer-email">no e-mail address</span>' in without


def test_a_running_ticket_shows_what_it_waits_on_and_no_review_hint_without_forms() -> None:
    """The CLI's `status` and the API showed a call retrying after 429s; the page did not. A
    NEW ticket's page said "write the reply with Edit" with no form to do it."""
    view = TicketView(ticket_id="T-7", subject="Refund", state=TicketState.NEW)
    calls = [("classify_ticket on llm-openai: next attempt (3) at 12:00:09 UTC", True)]

    html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=False, calls=calls)

    assert '<dd class="waiting trouble">classify_ticket on llm-openai: next attempt (3)' in html
    assert "(no draft yet)" in html and "write the reply with Edit" not in html
    assert "None: there is no draft." in html


def test_the_review_boxes_cut_nothing_and_say_their_limits() -> None:
    # A box's maxlength cut a pasted reply of 8,040 characters to 8,000 without a word, and the
    # cut text was sent to the customer: the boxes say the limit, the server's check names it.
    view = TicketView(
        ticket_id="T-8",
        subject="Refund",
        state=TicketState.AWAITING_REVIEW,
        draft=DraftRecord(revision=1, text="Draft.", author="resolver"),
    )

    html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=True, typed={})

    assert "maxlength" not in html
    flat = " ".join(html.split())
    assert "(up to 8,000 characters)" in flat
    assert "(up to 4,000 characters)" in flat and "(up to 1,000 characters)" in flat


def test_a_review_that_may_still_apply_is_not_called_not_applied() -> None:
    typed = {"edited_text": "My answer"}

    uncertain = render("trouble.html", message="m", typed=typed, maybe_applied=True)
    refused = render("trouble.html", message="m", typed=typed)

    assert "it may still be applied" in uncertain and "not applied" not in uncertain
    assert "Your text (not applied)" in refused and "may still be applied" not in refused


def test_the_reviews_show_rework_notes_and_reasons_and_estimated_tokens_are_marked() -> None:
    rework = ReviewDecision(action=ReviewAction.REWORK, reviewer="ana", notes="Cite the policy")
    reject = ReviewDecision(action=ReviewAction.REJECT, reviewer="bob", reason="Spam, not ours")
    view = TicketView(
        ticket_id="T-8",
        subject="Refund",
        state=TicketState.REJECTED,
        reviews=[
            ReviewRecord(decision=rework, at=NOW, applied=True),
            ReviewRecord(decision=reject, at=NOW, applied=True),
        ],
        usage={
            "classifier": AgentUsageTotals(
                calls=1, input_tokens=3000, output_tokens=308, estimated_tokens=3308
            )
        },
    )

    html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=False, typed={})

    assert "Cite the policy" in html and "Spam, not ours" in html
    assert "~3,308 tokens" in html and "~3,000" in html and "estimated: characters / 4" in html


def test_trouble_with_temporal_is_worded_for_a_reviewer() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from api.console.trouble import what_went_wrong

    down = what_went_wrong(RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b""))
    refused = what_went_wrong(RPCError("namespace not found", RPCStatusCode.NOT_FOUND, b""))

    # It read "Temporal answered: tcp connect error", as if it had answered.
    assert down.startswith("the Temporal server cannot be reached now (tcp connect error)")
    assert refused == "the Temporal server refused the request: namespace not found"


def test_a_delivered_answer_says_how_it_went_not_where_the_server_keeps_it() -> None:
    def delivered(via: str | None, to: str | None) -> str:
        receipt = DeliveryReceipt(
            ticket_id="T-8",
            channel="email",
            location="ledger:/srv/tickets/data/outbox.sqlite3#T-8",
            delivered_at=NOW,
            revision=2,
            sent_via=via,
            sent_to=to,
        )
        view = TicketView(
            ticket_id="T-8", subject="Refund", state=TicketState.COMPLETED, delivery=receipt
        )
        html = render("ticket.html", view=view, message=MESSAGE, error=None, waiting=False)
        assert "/srv/tickets" not in html  # a path on the server is not the reviewer's business
        return " ".join(html.split('<dd id="delivered">')[1].split("</dd>")[0].split())

    assert delivered("email", "ana@example.com") == (
        "revision 2 by email to ana@example.com, 2026-03-02 12:00 UTC"
    )
    assert delivered("ledger", None).startswith("revision 2 kept in the delivery ledger")
    assert delivered(None, None).startswith("revision 2 recorded in the delivery ledger")


def test_the_queue_can_stop_refreshing() -> None:
    # The reload moves focus and scroll to the top: a keyboard or screen-reader user can stop it.
    stopped = render("queue.html", tickets=[], waiting=0, unanswered=[], notice=None, refresh=0)
    running = render("queue.html", tickets=[], waiting=0, unanswered=[], notice=None, refresh=20)

    assert "http-equiv" not in stopped
    assert 'href="/console/queue?refresh=on">Refresh and keep' in stopped
    assert 'href="/console/queue?refresh=off">Stop refreshing' in running


def test_the_queue_says_why_each_ticket_waits_in_a_few_words() -> None:
    waiting = TicketSummary(
        ticket_id="T-1",
        workflow_status="RUNNING",
        state="AWAITING_REVIEW",
        review_reasons=["low-confidence", "reworked", "from-a-newer-worker"],
    )
    # A ticket that began waiting before the reasons were recorded in visibility.
    older = waiting.model_copy(update={"ticket_id": "T-2", "review_reasons": []})

    html = render(
        "queue.html", tickets=[waiting, older], waiting=2, unanswered=[], notice=None, refresh=0
    )

    cells = [cell.split("</td>")[0] for cell in html.split('<td class="why">')[1:]]
    why = [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in cells]
    assert "<th>Why</th>" in html
    assert why == ["low confidence, reworked: new draft, from-a-newer-worker", "-"]
    # Each known reason links to the queue of the tickets waiting for it.
    assert '<a href="/console/queue?why=low-confidence"' in cells[0]
    assert "?why=from-a-newer-worker" not in cells[0]


def test_a_queue_filtered_by_a_reason_says_so_and_keeps_the_filter_when_it_reloads() -> None:
    waiting = TicketSummary(
        ticket_id="T-1",
        workflow_status="RUNNING",
        state="AWAITING_REVIEW",
        review_reasons=["budget"],
    )

    html = render(
        "queue.html", tickets=[waiting], waiting=1, unanswered=[], notice=None, refresh=20,
        why="budget",
    )  # fmt: skip

    assert "Only tickets waiting for <strong>budget spent</strong>" in html
    assert '<a href="/console/queue">Show every ticket waiting</a>' in html
    assert 'content="20; url=/console/queue?why=budget"' in html
    assert 'href="/console/queue?refresh=off&amp;why=budget"' in html
