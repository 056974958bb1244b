"""Delivery settings from the environment: channels per ticket channel, a clear sentence for
what is missing, and secrets that never show in a description."""

import pytest

from activities.delivery.config import DeliveryConfig
from shared.settings import ConfigError

WEBHOOK = {
    "TICKETS_WEBHOOK_URL": "https://hooks.example.com/tickets?token=hook-token-123",
    "TICKETS_WEBHOOK_SECRET": "a-long-enough-webhook-secret",
}
SMTP = {
    "TICKETS_SMTP_HOST": "smtp.example.com",
    "TICKETS_SMTP_FROM": "support@example.com",
    "TICKETS_SMTP_USERNAME": "mailer",
    "TICKETS_SMTP_PASSWORD": "smtp-password-456",
}


def test_with_nothing_set_answers_stay_in_the_ledger() -> None:
    config = DeliveryConfig.from_env({})
    assert config.method_for("email") == "ledger" and config.method_for("chat") == "ledger"
    assert config.webhook is None and config.smtp is None and config.concurrency == 16


def test_a_ticket_channel_can_have_its_own_delivery_channel() -> None:
    env = {
        "TICKETS_DELIVERY_CHANNEL": "webhook",
        "TICKETS_DELIVERY_CHANNEL_EMAIL": "email",
        **WEBHOOK,
        **SMTP,
    }
    config = DeliveryConfig.from_env(env)
    assert config.method_for("email") == "email"
    assert config.method_for("chat") == config.method_for("api") == "webhook"


def test_descriptions_carry_no_secret_token_or_password() -> None:
    config = DeliveryConfig.from_env(
        {"TICKETS_DELIVERY_CHANNEL": "webhook", "TICKETS_DELIVERY_CHANNEL_EMAIL": "email"}
        | WEBHOOK
        | SMTP
    )
    text = "\n".join(config.describe()) + repr(config)
    assert "https://hooks.example.com/…" in text and "smtp.example.com:587" in text
    for secret in ("hook-token-123", "a-long-enough-webhook-secret", "smtp-password-456"):
        assert secret not in text


def test_a_webhook_whose_secret_is_its_path_is_shown_by_its_host() -> None:
    slack = "https://hooks.slack.example/services/T0001/B0002/Xy7SeCrEt9"
    config = DeliveryConfig.from_env({"TICKETS_DELIVERY_CHANNEL": "webhook"} | WEBHOOK | {
        "TICKETS_WEBHOOK_URL": slack})  # fmt: skip
    text = "\n".join(config.describe()) + repr(config)
    assert "POST https://hooks.slack.example/…" in text
    assert "Xy7SeCrEt9" not in text and "T0001" not in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TICKETS_DELIVERY_CHANNEL": "pigeon"}, "must be one of ledger, webhook, email"),
        ({"TICKETS_DELIVERY_CHANNEL": "webhook"}, "TICKETS_WEBHOOK_URL is not set"),
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook", "TICKETS_WEBHOOK_URL": "ftp://x/y"},
            "must be an http:// or https:// URL",
        ),
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook"}
            | WEBHOOK
            | {"TICKETS_WEBHOOK_URL": "https://hooks.example:99999/x"},
            "TICKETS_WEBHOOK_URL has a port that is not a number from 1 to 65535",
        ),
        (
            # urlsplit read the host "hookuser" on port 2024, printed as the webhook's address.
            {"TICKETS_DELIVERY_CHANNEL": "webhook"}
            | WEBHOOK
            | {"TICKETS_WEBHOOK_URL": "https://hookuser:2024/Spring!@hooks.example/x"},
            "TICKETS_WEBHOOK_URL has an '@' after its host part: a password holding '/' must "
            "write it %2F",
        ),
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook"}
            | WEBHOOK
            | {"TICKETS_WEBHOOK_URL": "https://[::1/x"},
            r"TICKETS_WEBHOOK_URL is not a URL \(its host part cannot be read\)",
        ),
        # Read as a URL, refused by the HTTP client at every send: 30 attempts, then
        # DELIVERY_FAILED, the ledger row left "send begun".
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook"}
            | WEBHOOK
            | {"TICKETS_WEBHOOK_URL": "https://hooks\u200b.example/x"},
            r"TICKETS_WEBHOOK_URL holds a character the HTTP client refuses in a URL",
        ),
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook"}
            | WEBHOOK
            | {"TICKETS_WEBHOOK_URL": "https://hooks.example/x\x7f"},
            r"TICKETS_WEBHOOK_URL holds a character the HTTP client refuses in a URL",
        ),
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook", "TICKETS_WEBHOOK_URL": "https://x/y"},
            "TICKETS_WEBHOOK_SECRET must be set to at least 16 characters",
        ),
        (
            {"TICKETS_DELIVERY_CHANNEL": "webhook", "TICKETS_WEBHOOK_TIMEOUT_SECONDS": "60"}
            | WEBHOOK,
            "must be at most 30 seconds: the delivery attempt's limit of 45 seconds keeps 15",
        ),
        ({"TICKETS_DELIVERY_CHANNEL_EMAIL": "email"}, "TICKETS_SMTP_HOST is not set"),
        (
            {"TICKETS_DELIVERY_CHANNEL_EMAIL": "email", "TICKETS_SMTP_HOST": "smtp"},
            "TICKETS_SMTP_FROM must be the sender's address",
        ),
        (
            {"TICKETS_DELIVERY_CHANNEL_EMAIL": "email", "TICKETS_SMTP_TLS": "maybe"} | SMTP,
            "TICKETS_SMTP_TLS must be one of auto, starttls, tls, none",
        ),
        ({"TICKETS_DELIVERY_CONCURRENCY": "0"}, "TICKETS_DELIVERY_CONCURRENCY must be between"),
        # A typo routed nothing and said nothing.
        (
            {"TICKETS_DELIVERY_CHANNEL_EMAL": "email"},
            "TICKETS_DELIVERY_CHANNEL_EMAL names no channel: the channels are EMAIL, CHAT",
        ),
    ],
)
def test_an_unusable_setting_is_one_sentence_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        DeliveryConfig.from_env(env)
    for secret in ("a-long-enough-webhook-secret", "smtp-password-456"):
        assert secret not in str(caught.value)


def test_an_smtp_password_read_from_a_file_loses_its_line_break_and_keeps_its_spaces() -> None:
    """A password from a file ends in a newline: every login was refused for hours of retries
    per e-mail. A line break inside one is refused at start, naming the variable."""
    env = {"TICKETS_DELIVERY_CHANNEL": "email", **SMTP}
    read = DeliveryConfig.from_env(env | {"TICKETS_SMTP_PASSWORD": " s3cret \r\n"})
    assert read.smtp is not None and read.smtp.password == " s3cret "
    with pytest.raises(ConfigError, match="TICKETS_SMTP_PASSWORD holds a line break"):
        DeliveryConfig.from_env(env | {"TICKETS_SMTP_PASSWORD": "s3\ncret"})
