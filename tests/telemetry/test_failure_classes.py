"""Every failure type the providers raise has a class a runbook covers (docs/observability.md):
a malformed answer and a base URL that does not stream were "other" on the failures panel and
in ProviderErrorsHigh; and a call may last as long as its attempt timeout allows."""

import re
from pathlib import Path

from activities.providers import answer_format
from shared.metrics import AGENT_CALL_DURATION, BUCKETS, failure_class

PROVIDERS = Path(__file__).resolve().parents[2] / "activities" / "providers"


def test_a_malformed_answer_and_a_base_url_that_does_not_stream_have_a_class() -> None:
    assert failure_class(answer_format.MALFORMED_TYPE) == "server_error"
    assert failure_class(answer_format.NOT_STREAMING_TYPE) == "bad_request"


def test_every_error_type_the_providers_raise_has_a_class() -> None:
    # Every "Provider..." type the providers' source names (in a `type=` argument, a constant,
    # a table by status code): a new one without a class fails here.
    source = "\n".join(p.read_text() for p in PROVIDERS.rglob("*.py"))
    types = set(re.findall(r'"(Provider[A-Z]\w+)"', source))
    assert len(types) > 10, types
    assert {t for t in types if failure_class(t) == "other"} == set()


def test_the_call_duration_buckets_reach_a_slow_models_ten_minutes() -> None:
    assert BUCKETS[AGENT_CALL_DURATION][-1] >= 600
