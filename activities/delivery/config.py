"""Delivery channels from the environment (worker-side settings: secrets never reach a history).

TICKETS_DELIVERY_CHANNEL            ledger (default), webhook or email: how answers leave
TICKETS_DELIVERY_CHANNEL_<CHANNEL>  the same for tickets of one channel (EMAIL, CHAT, WEB,
                                    PHONE, API), e.g. TICKETS_DELIVERY_CHANNEL_CHAT=webhook
TICKETS_DELIVERY_CONCURRENCY        deliveries at once per worker (default 16)
TICKETS_WEBHOOK_URL                 where the webhook channel POSTs (http:// or https://)
TICKETS_WEBHOOK_SECRET              HMAC-SHA256 key of the signature (at least 16 characters)
TICKETS_WEBHOOK_TIMEOUT_SECONDS     per request (default 10)
TICKETS_SMTP_HOST, TICKETS_SMTP_PORT (587), TICKETS_SMTP_USERNAME, TICKETS_SMTP_PASSWORD,
TICKETS_SMTP_FROM                   the e-mail channel's server, login and sender address
TICKETS_SMTP_TLS                    auto (STARTTLS when offered, required with a login; default),
                                    starttls, tls, none
TICKETS_SMTP_TIMEOUT_SECONDS        per message (default 20)
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from urllib.parse import urlsplit

import httpx2

from shared.http_urls import http_url_problem
from shared.settings import ConfigError
from shared.tickets import EMAIL_PATTERN, Channel, usable_email
from workflows.options import DELIVERY_START_TO_CLOSE

LEDGER, WEBHOOK, EMAIL = "ledger", "webhook", "email"
METHODS: Final = (LEDGER, WEBHOOK, EMAIL)
DEFAULT_CONCURRENCY: Final = 16
# Both client timeouts stay below the delivery activity's start-to-close, so a hanging
# destination ends an attempt with a clean, retryable error instead of Temporal timing it out.
DELIVERY_ATTEMPT_LIMIT: Final[timedelta] = DELIVERY_START_TO_CLOSE
# What an attempt keeps besides the send: the ledger's reads and claim, marking the row sent
# (tried again while the database restarts), a margin. A send may take the rest at most.
ATTEMPT_RESERVE_SECONDS: Final = 15.0
DEFAULT_WEBHOOK_TIMEOUT: Final = 10.0
DEFAULT_SMTP_TIMEOUT: Final = 20.0
MIN_SECRET_CHARS: Final = 16
TLS_MODES: Final = ("auto", "starttls", "tls", "none")


def display_url(url: str) -> str:
    """scheme://host[:port], and "/…" for a path: no user, password, path or query. Slack's,
    Teams' and Discord's webhook URLs carry their secret in the path (/services/T/B/XXXX), and
    this text goes to logs, failure messages and the ledger's last error."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    path = "/…" if parts.path.strip("/") else ""
    return f"{parts.scheme}://{host}{port}{path}"


@dataclass(frozen=True)
class WebhookConfig:
    url: str = field(repr=False)
    secret: str = field(repr=False)
    timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT

    def describe(self) -> str:
        return f"POST {display_url(self.url)}, signed, timeout {self.timeout_seconds:g}s"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "auto"
    timeout_seconds: float = DEFAULT_SMTP_TIMEOUT

    def describe(self) -> str:
        login = f", as {self.username}" if self.username else ""
        return (
            f"SMTP {self.host}:{self.port} from {self.sender} (TLS {self.tls}{login}), "
            f"timeout {self.timeout_seconds:g}s"
        )


@dataclass(frozen=True)
class DeliveryConfig:
    default_method: str = LEDGER
    per_channel: Mapping[str, str] = field(default_factory=dict)
    webhook: WebhookConfig | None = None
    smtp: SmtpConfig | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    # Whether the environment chose the default (TICKETS_DELIVERY_CHANNEL): unset, the ledger is
    # this worker's guess, which a worker that polls no delivery queue must not act on for a
    # ticket channel without a per-channel choice (activity.py deliver_response_now).
    default_chosen: bool = False

    def method_for(self, channel: str) -> str:
        return self.per_channel.get(channel, self.default_method)

    def chose(self, channel: str) -> bool:
        """Whether the environment chose how this ticket channel's answers go."""
        return self.default_chosen or channel in self.per_channel

    def methods(self) -> set[str]:
        return {self.default_method, *self.per_channel.values()}

    def describe(self) -> list[str]:
        routes = ", ".join(f"{c} -> {m}" for c, m in sorted(self.per_channel.items()))
        lines = [
            f"delivery: {self.default_method} by default"
            + (f" ({routes})" if routes else "")
            + f", {self.concurrency} at once"
        ]
        if self.webhook and WEBHOOK in self.methods():
            lines.append(f"  webhook: {self.webhook.describe()}")
        if self.smtp and EMAIL in self.methods():
            lines.append(f"  email: {self.smtp.describe()}")
        return lines

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DeliveryConfig":
        env = os.environ if env is None else env
        known = {f"TICKETS_DELIVERY_CHANNEL_{c.name}" for c in Channel}
        for name in sorted(env):
            if name.startswith("TICKETS_DELIVERY_CHANNEL_") and name not in known:
                # A typo (..._EMAL) routed nothing and said nothing.
                raise ConfigError(
                    f"{name} names no channel: the channels are "
                    f"{', '.join(c.name for c in Channel)}"
                )
        default = _method(env, "TICKETS_DELIVERY_CHANNEL") or LEDGER
        per_channel = {}
        for channel in Channel:
            if method := _method(env, f"TICKETS_DELIVERY_CHANNEL_{channel.name}"):
                per_channel[channel.value] = method
        used = {default, *per_channel.values()}
        return cls(
            default_method=default,
            per_channel=per_channel,
            default_chosen=_method(env, "TICKETS_DELIVERY_CHANNEL") is not None,
            webhook=_webhook(env, required=WEBHOOK in used),
            smtp=_smtp(env, required=EMAIL in used),
            concurrency=int(
                _number(env, "TICKETS_DELIVERY_CONCURRENCY", DEFAULT_CONCURRENCY, 1, 1000)
            ),
        )


def _method(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip().lower()
    if value and value not in METHODS:
        raise ConfigError(f"{name} must be one of {', '.join(METHODS)}, got {value!r}")
    return value or None


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def _timeout(env: Mapping[str, str], name: str, default: float) -> float:
    limit = DELIVERY_ATTEMPT_LIMIT.total_seconds()
    value = _number(env, name, default, 0.1, 3600)
    if value > limit - ATTEMPT_RESERVE_SECONDS:
        raise ConfigError(
            f"{name} ({value:g}) must be at most {limit - ATTEMPT_RESERVE_SECONDS:g} seconds: "
            f"the delivery attempt's limit of {limit:g} seconds keeps "
            f"{ATTEMPT_RESERVE_SECONDS:g} for the ledger"
        )
    return value


def _webhook(env: Mapping[str, str], *, required: bool) -> WebhookConfig | None:
    url = (env.get("TICKETS_WEBHOOK_URL") or "").strip()
    # Stripped: a secret read from a file (kubectl's --from-file, `echo`) ends in a newline, which
    # became part of the HMAC key and every receiver refused every signature.
    secret = (env.get("TICKETS_WEBHOOK_SECRET") or "").strip()
    if not url and not required:
        return None
    if not url:
        raise ConfigError("the webhook channel is configured but TICKETS_WEBHOOK_URL is not set")
    if problem := http_url_problem(url, credentials=True):
        raise ConfigError(f"TICKETS_WEBHOOK_URL {problem}")
    try:
        httpx2.URL(url)
    except (httpx2.InvalidURL, UnicodeError):
        # A zero-width space in the host, a control character in the path, bytes that are not
        # UTF-8: read as a URL above, refused by the client at every send (30 attempts over
        # hours, then DELIVERY_FAILED, the row left "send begun"; a review, 2026-12-07). The URL
        # is not repeated.
        raise ConfigError(
            "TICKETS_WEBHOOK_URL holds a character the HTTP client refuses in a URL (an invisible "
            "or control character, or a host name to write in its xn-- form?)"
        ) from None
    if any(c.isspace() or not c.isprintable() for c in secret):
        raise ConfigError(
            "TICKETS_WEBHOOK_SECRET holds a space, a line break or a control character: "
            "receivers compute the signature with the secret as they were given it, without them"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"TICKETS_WEBHOOK_SECRET must be set to at least {MIN_SECRET_CHARS} characters "
            "(receivers check every request's signature with it)"
        )
    return WebhookConfig(
        url=url,
        secret=secret,
        timeout_seconds=_timeout(env, "TICKETS_WEBHOOK_TIMEOUT_SECONDS", DEFAULT_WEBHOOK_TIMEOUT),
    )


def _smtp(env: Mapping[str, str], *, required: bool) -> SmtpConfig | None:
    host = (env.get("TICKETS_SMTP_HOST") or "").strip()
    if not host and not required:
        return None
    if not host:
        raise ConfigError("the email channel is configured but TICKETS_SMTP_HOST is not set")
    sender = (env.get("TICKETS_SMTP_FROM") or "").strip()
    if not re.match(EMAIL_PATTERN, sender) or not usable_email(sender):
        raise ConfigError(
            "TICKETS_SMTP_FROM must be the sender's address, like support@example.com"
            + (f" (got {sender!r})" if sender else "")
        )
    tls = (env.get("TICKETS_SMTP_TLS") or "auto").strip().lower()
    if tls not in TLS_MODES:
        raise ConfigError(f"TICKETS_SMTP_TLS must be one of {', '.join(TLS_MODES)}, got {tls!r}")
    username = (env.get("TICKETS_SMTP_USERNAME") or "").strip() or None
    # Line breaks off its end, as the webhook secret's: a password read from a file (kubectl's
    # --from-file, `echo`) ends in one, and every login was refused (535) for 3.6 hours of
    # retries per e-mail. Spaces stay: they may be the password's own.
    password = (env.get("TICKETS_SMTP_PASSWORD") or "").rstrip("\r\n") or None
    if password and ("\r" in password or "\n" in password):
        raise ConfigError("TICKETS_SMTP_PASSWORD holds a line break: give the password alone")
    if password and not username:
        raise ConfigError("TICKETS_SMTP_PASSWORD is set but TICKETS_SMTP_USERNAME is not")
    return SmtpConfig(
        host=host,
        port=int(_number(env, "TICKETS_SMTP_PORT", 587, 1, 65535)),
        sender=sender,
        username=username,
        password=password,
        tls=tls,
        timeout_seconds=_timeout(env, "TICKETS_SMTP_TIMEOUT_SECONDS", DEFAULT_SMTP_TIMEOUT),
    )
