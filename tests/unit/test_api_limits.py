"""The intake token bucket, sealed page tokens and the API's settings."""

import pytest

from api.page_tokens import PageTokenError, PageTokens
from api.rate_limit import RateLimiter
from api.settings import ApiSettings, ApiSettingsError


class ClockFake:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_requests_wait_for_the_bucket_to_refill() -> None:
    clock = ClockFake()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)

    assert [limiter.retry_after("ana") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("ana") == 1  # one token a second
    clock.now += 1.0
    assert limiter.retry_after("ana") is None
    assert limiter.retry_after("ana") == 1


def test_each_token_has_its_own_bucket_and_a_slow_rate_says_how_long() -> None:
    clock = ClockFake()
    limiter = RateLimiter(per_minute=2, burst=1, clock=clock)

    assert limiter.retry_after("ana") is None
    assert limiter.retry_after("ana") == 30
    assert limiter.retry_after("bob") is None
    clock.now += 10
    assert limiter.retry_after("ana") == 20


def test_a_page_token_opens_only_for_the_query_it_was_sealed_with() -> None:
    tokens = PageTokens()
    sealed = tokens.seal("WorkflowType = 'TicketWorkflow'", b"\x00raw-token")

    assert tokens.open("WorkflowType = 'TicketWorkflow'", sealed) == b"\x00raw-token"
    for query, token in [
        ("WorkflowType = 'Other'", sealed),
        ("WorkflowType = 'TicketWorkflow'", sealed[:-4] + "AAAA"),
        ("WorkflowType = 'TicketWorkflow'", "not base64!"),
        ("WorkflowType = 'TicketWorkflow'", PageTokens().seal("q", b"x")),
    ]:
        with pytest.raises(PageTokenError):
            tokens.open(query, token)


def test_api_settings_come_from_the_environment_and_bad_values_name_the_variable() -> None:
    settings = ApiSettings.from_env(
        {"TICKETS_API_PORT": "9001", "TICKETS_API_INTAKE_BURST": "5", "TICKETS_API_HOST": "0.0.0.0"}
    )
    assert (settings.port, settings.intake_burst, settings.host) == (9001, 5, "0.0.0.0")
    assert ApiSettings.from_env({}).secure_cookies is True
    with pytest.raises(ApiSettingsError, match="TICKETS_API_PORT must be between 1 and 65535"):
        ApiSettings.from_env({"TICKETS_API_PORT": "0"})
    with pytest.raises(ApiSettingsError, match="TICKETS_API_MAX_BODY_BYTES must be a int"):
        ApiSettings.from_env({"TICKETS_API_MAX_BODY_BYTES": "lots"})
    # No upper bound took a typo as given (a body limit of a terabyte, read whole).
    with pytest.raises(ApiSettingsError, match="MAX_BODY_BYTES must be between 1024 and 67108864"):
        ApiSettings.from_env({"TICKETS_API_MAX_BODY_BYTES": "1000000000000"})
    with pytest.raises(ApiSettingsError, match="TICKETS_API_INTAKE_BURST must be between 1 and"):
        ApiSettings.from_env({"TICKETS_API_INTAKE_BURST": "10000000"})
    with pytest.raises(ApiSettingsError, match="TICKETS_API_REPORT_BURST must be between 1 and"):
        ApiSettings.from_env({"TICKETS_API_REPORT_BURST": "0"})
    with pytest.raises(ApiSettingsError, match="TICKETS_API_REPORT_PER_MINUTE must be a finite"):
        ApiSettings.from_env({"TICKETS_API_REPORT_PER_MINUTE": "nan"})
    reports = ApiSettings.from_env(
        {"TICKETS_API_REPORT_PER_MINUTE": "30", "TICKETS_API_REPORT_BURST": "6"}
    )
    assert (reports.report_per_minute, reports.report_burst) == (30.0, 6)
    with pytest.raises(ApiSettingsError, match="TICKETS_API_READ_BURST must be between 1 and"):
        ApiSettings.from_env({"TICKETS_API_READ_BURST": "0"})
    reads = ApiSettings.from_env(
        {"TICKETS_API_READ_PER_MINUTE": "90", "TICKETS_API_READ_BURST": "15"}
    )
    assert (reads.read_per_minute, reads.read_burst) == (90.0, 15)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_an_intake_rate_that_is_not_a_finite_number_is_refused(value: str) -> None:
    # nan passed the lower bound (every comparison with nan is false) and kept the bucket full
    # for ever: the intake rate limit was off without a word.
    with pytest.raises(ApiSettingsError, match="TICKETS_API_INTAKE_PER_MINUTE must be a finite"):
        ApiSettings.from_env({"TICKETS_API_INTAKE_PER_MINUTE": value})
