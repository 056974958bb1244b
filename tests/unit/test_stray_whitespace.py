"""Inputs with what an editor, a shell or a secret store adds around a value: a trailing
newline or space, a byte-order mark, a port out of range, a JSON array on one line. Each was
taken as given and failed later with nothing pointing at it (every delivery refused as
unsigned, a provider's URL ending in "%20", another data folder, a traceback)."""

import json
from pathlib import Path

import pytest

from activities.delivery.config import DeliveryConfig
from codec_server.settings import CodecServerSettings
from shared.bounded_read import read_text_at_most
from shared.settings import ConfigError, data_dir, load_settings
from starter.arguments import listen_problem
from starter.inputs import read_jsonl

WEBHOOK_URL = "https://hooks.example.com/tickets"


def test_a_webhook_secret_read_from_a_file_loses_its_newline() -> None:
    env = {"TICKETS_WEBHOOK_URL": WEBHOOK_URL, "TICKETS_WEBHOOK_SECRET": "0123456789abcdef0123\n"}
    config = DeliveryConfig.from_env(env | {"TICKETS_DELIVERY_CHANNEL": "webhook"})
    assert config.webhook is not None
    assert config.webhook.secret == "0123456789abcdef0123"


def test_a_webhook_secret_with_a_line_break_inside_is_refused_naming_it() -> None:
    env = {
        "TICKETS_WEBHOOK_URL": WEBHOOK_URL,
        "TICKETS_WEBHOOK_SECRET": "0123456789\nabcdef0123",
        "TICKETS_DELIVERY_CHANNEL": "webhook",
    }
    with pytest.raises(ConfigError, match="TICKETS_WEBHOOK_SECRET holds a space, a line break"):
        DeliveryConfig.from_env(env)


def test_a_provider_base_url_with_a_trailing_space_is_taken_without_it() -> None:
    settings = load_settings(env={"OPENAI_BASE_URL": "http://localhost:11434/v1 "})
    assert settings.worker.providers["openai"].base_url == "http://localhost:11434/v1"


def test_the_data_directory_with_a_trailing_space_is_the_same_directory() -> None:
    assert data_dir({"TICKETS_DATA_DIR": "data "}) == Path("data").resolve()


def test_a_byte_order_mark_is_no_text(tmp_path: Path) -> None:
    reply = tmp_path / "reply.txt"
    reply.write_bytes("\ufeffThanks, fixed.\n".encode())
    assert read_text_at_most(reply, 1_000) == "Thanks, fixed.\n"


def test_a_configuration_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_bytes("\ufeff[budget]\nmax_tokens = 5000\n".encode())
    settings = load_settings(config, env={})
    assert settings.pipeline.budget.max_tokens == 5000


@pytest.mark.parametrize("port", ["70000", "0", "-1", "8²"])
def test_a_codec_server_port_out_of_range_is_refused_naming_it(port: str) -> None:
    with pytest.raises(ConfigError, match="TICKETS_CODEC_PORT must be"):
        CodecServerSettings.from_env({"TICKETS_CODEC_PORT": port})


def test_listening_on_a_port_past_the_range_is_a_sentence_not_a_traceback() -> None:
    assert listen_problem("127.0.0.1", 70000) == (
        "cannot listen on 127.0.0.1:70000: a port is from 1 to 65535"
    )


def test_a_json_array_on_one_long_line_is_told_to_be_json_lines(tmp_path: Path) -> None:
    tickets = [{"ticket_id": f"T-{i}", "subject": "s", "body": "x" * 400} for i in range(1_000)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tickets))
    parsed, errors = read_jsonl(path)
    assert parsed == []
    [error] = errors
    assert "one JSON array: give JSON Lines, one item per line" in str(error)
