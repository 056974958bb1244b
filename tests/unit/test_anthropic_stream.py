"""StreamedMessage: an Anthropic message put together from its streamed events (plain dicts)."""

from activities.providers.anthropic_stream import StreamedMessage, parse_input


def block_start(index: int, block: dict[str, object]) -> dict[str, object]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, kind: str, **fields: str) -> dict[str, object]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def test_text_and_tool_blocks_are_joined_in_order_with_the_final_usage() -> None:
    message = StreamedMessage()
    events = [
        {
            "type": "message_start",
            "message": {
                "usage": {
                    "input_tokens": 10,
                    "output_tokens": 1,
                    "cache_read_input_tokens": 500,
                    "cache_creation_input_tokens": None,
                }
            },
        },
        block_start(0, {"type": "text", "text": ""}),
        delta(0, "text_delta", text="Let me "),
        delta(0, "text_delta", text="answer."),
        {"type": "content_block_stop", "index": 0},
        block_start(1, {"type": "tool_use", "id": "t1", "name": "submit", "input": {}}),
        delta(1, "input_json_delta", partial_json='{"a": [1, '),
        delta(1, "input_json_delta", partial_json="2]}"),
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ]
    for event in events:
        message.add(event)
    message.done()

    assert message.text() == "Let me answer."
    assert message.tool_use() == {
        "type": "tool_use",
        "id": "t1",
        "name": "submit",
        "input": {"a": [1, 2]},
    }
    assert message.stop_reason == "tool_use"
    # message_delta's output count replaces message_start's; a null field is not a count.
    assert message.usage == {"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 500}


def test_a_stream_that_ends_without_the_block_stop_still_joins_its_pieces() -> None:
    message = StreamedMessage()
    message.add(block_start(0, {"type": "tool_use", "id": "t1", "name": "submit", "input": {}}))
    message.add(delta(0, "input_json_delta", partial_json='{"ok": true}'))

    assert message.done().tool_use() == {
        "type": "tool_use",
        "id": "t1",
        "name": "submit",
        "input": {"ok": True},
    }


def test_tool_input_that_is_not_json_is_kept_as_text_for_the_repair() -> None:
    message = StreamedMessage()
    message.add(block_start(0, {"type": "tool_use", "id": "t1", "name": "submit", "input": {}}))
    message.add(delta(0, "input_json_delta", partial_json='{"category": "bill'))
    message.add({"type": "content_block_stop", "index": 0})

    tool_use = message.tool_use()
    assert tool_use is not None
    assert tool_use["input"] == {}
    assert tool_use["_invalid_input"] == '{"category": "bill'


def test_unknown_events_and_deltas_change_nothing() -> None:
    message = StreamedMessage()
    message.add(block_start(0, {"type": "text", "text": "a"}))
    message.add(delta(0, "future_delta", text="ignored"))
    message.add({"type": "something_new", "index": 0})
    message.add({"type": "content_block_stop", "index": 0})

    assert message.done().text() == "a"
    assert message.usage == {} and message.stop_reason is None


def test_empty_tool_input_is_an_empty_object() -> None:
    assert parse_input("") == ({}, None)
    assert parse_input(' {"x": 1} ') == ({"x": 1}, None)
    assert parse_input("[1,") == ({}, "[1,")


def test_content_for_a_repair_has_no_gaps_no_nulls_and_whole_signatures() -> None:
    message = StreamedMessage()
    message.add(block_start(1, {"type": "thinking", "thinking": "", "signature": ""}))
    message.add(delta(1, "thinking_delta", thinking="Look at "))
    message.add(delta(1, "thinking_delta", thinking="the order."))
    message.add(delta(1, "signature_delta", signature="sig-abc"))
    message.add({"type": "content_block_stop", "index": 1})
    message.add(block_start(2, {"type": "text", "text": "", "citations": None}))
    message.add(
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "citations_delta", "citation": {"cited_text": "KB-1"}},
        }
    )
    message.add({"type": "content_block_stop", "index": None})  # a null index is block 0
    message.add({"type": "message_stop"})

    assert message.stopped
    assert message.content() == [
        {"type": "thinking", "thinking": "Look at the order.", "signature": "sig-abc"},
        {"type": "text", "text": "", "citations": [{"cited_text": "KB-1"}]},
    ]
