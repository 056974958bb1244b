"""Inputs at the edges the input audit found: a FIFO given as a file (open blocked for ever), a
port written with a superscript digit (``str.isdigit`` takes "²", ``int`` does not: a
ValueError), and names from the configuration with no bound (a provider's name becomes a task
queue's, a model's goes into every ticket's configuration snapshot)."""

import asyncio
import os
from pathlib import Path

import pytest

from shared.bounded_read import read_text_at_most
from shared.health import parse_address
from shared.settings import MAX_MODEL_CHARS, ConfigError, load_settings
from shared.temporal_client import address_problem
from starter.inputs import read_jsonl


async def test_a_fifo_nobody_writes_to_reads_as_empty_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "tickets.jsonl"
    os.mkfifo(fifo)
    # Each in a thread with a deadline: before, open() waited for a writer for ever.
    text = await asyncio.wait_for(asyncio.to_thread(read_text_at_most, fifo, 1_000), 10)
    parsed, errors = await asyncio.wait_for(asyncio.to_thread(read_jsonl, fifo), 10)
    assert text == "" and parsed == []
    assert [e.message for e in errors] == ["the file holds no tickets"]


def test_a_pipe_with_its_writer_is_still_read_whole() -> None:
    # As a shell's <(cat reply.txt) hands it over: a /dev/fd path to a pipe whose writer holds it.
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"Thanks, fixed.\n")
        os.close(write_end)
        assert read_text_at_most(Path(f"/dev/fd/{read_end}"), 1_000) == "Thanks, fixed.\n"
    finally:
        os.close(read_end)


def test_a_superscript_digit_in_a_port_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="must be host:port"):
        parse_address("127.0.0.1:8²")
    assert address_problem("localhost:7²") == "names no port: '7²' is not from 1 to 65535"


@pytest.mark.parametrize(
    ("route", "said"),
    [
        ("Open AI:gpt-4.1", "the provider 'Open AI' must be 1 to 40 lower-case letters"),
        ("p" * 5_000 + ":gpt-4.1", "must be 1 to 40 lower-case letters"),
        ("openai:" + "m" * (MAX_MODEL_CHARS + 1), f"at most {MAX_MODEL_CHARS} printable"),
        ("openai:gpt-4.1\x1b[2J", f"at most {MAX_MODEL_CHARS} printable"),
    ],
    ids=["space", "long-provider", "long-model", "control"],
)
def test_a_route_from_the_environment_is_bounded(route: str, said: str) -> None:
    with pytest.raises(ConfigError, match="TICKETS_AGENT_CLASSIFIER") as refused:
        load_settings(env={"TICKETS_AGENT_CLASSIFIER": route})
    assert said in str(refused.value)
    assert len(str(refused.value)) < 600


def test_a_provider_table_with_a_name_no_queue_can_take_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[providers.{"p" * 5_000}]\nkind = "openai"\n')
    with pytest.raises(ConfigError, match="must be 1 to 40 lower-case letters") as refused:
        load_settings(config, env={})
    assert len(str(refused.value)) < 600


def test_sensitive_categories_from_the_environment_are_each_taken_once_and_bounded() -> None:
    settings = load_settings(env={"TICKETS_SENSITIVE_CATEGORIES": "Billing, Billing,Account"})
    assert [str(c) for c in settings.pipeline.review.sensitive_categories] == ["Billing", "Account"]
    many = ",".join(f"x{i}" for i in range(100_000))
    with pytest.raises(
        ConfigError, match="TICKETS_SENSITIVE_CATEGORIES: 100,000 different"
    ) as refused:
        load_settings(env={"TICKETS_SENSITIVE_CATEGORIES": many})
    assert len(str(refused.value)) < 600
