"""A token held to ids of its own starting with a prefix (`id_prefix` in the tokens file, `token
create --id-prefix`): ids are the namespace's, and a leaked web-form token could otherwise take
the ids a helpdesk sends next, whose tickets would then be refused as collisions."""

import json

import httpx

from tests.api.helpers import unique_id
from tests.support.api_server import WEB_FORM_ID_PREFIX, Tokens, bearer

JSON = {"Content-Type": "application/json"}


async def test_a_token_with_an_id_prefix_gives_its_tickets_only_ids_that_start_with_it(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    own = unique_id(WEB_FORM_ID_PREFIX.rstrip("-"))
    helpdesks = unique_id("HD")
    items = [
        {"id": own, "subject": "Refund", "body": "Please refund order 7."},
        {"id": helpdesks, "subject": "Refund", "body": "Please refund order 8."},
        {"subject": "Refund", "body": "Please refund order 9."},  # an id from its content
        {"id": 1002, "subject": "Refund", "body": "Please refund order 10."},
    ]

    answer = await http.post(
        "/tickets", headers=bearer(tokens.web_form) | JSON, content=json.dumps(items)
    )
    # The helpdesk's own token is held to nothing: the id is still free for it.
    theirs = await http.post(
        "/tickets",
        headers=bearer(tokens.submit) | JSON,
        content=json.dumps({"id": helpdesks, "subject": "Printer", "body": "It jams."}),
    )

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [a["index"] for a in body["accepted"]] == [0, 2]
    assert body["accepted"][0]["ticket_id"] == own
    refused = {r["index"]: r["problems"] for r in body["refused"]}
    assert set(refused) == {1, 3}
    for problems in refused.values():
        assert problems == [
            "'id': this token gives tickets ids starting with WEB- only (its id_prefix in the "
            "tokens file); give one that does, or none (an id is then made from the content)"
        ]
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["accepted"][0]["ticket_id"] == helpdesks
