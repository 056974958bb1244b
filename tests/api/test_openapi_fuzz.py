"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis), in process
against the ASGI application, connected to the dev server: whatever a generated request holds, the
API never answers with a server error.

Fixed seed and a bounded number of examples per operation, so the run is repeatable and short;
the counts of the last run are written to test-artifacts/schemathesis.json for the record.
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared.temporal_client import ConnectionSettings, connect, connection_settings
from tests.support.api_server import API_FUZZ_NAMESPACE, Tokens, bearer
from tests.support.processes import PROJECT_ROOT
from tests.support.temporal import CONVERTER

pytestmark = pytest.mark.api

# Examples per operation: enough to cross every documented status code, small enough to keep the
# whole run near 20 s on two shared cores.
EXAMPLES_PER_OPERATION = 40
SEED = 20_261_130
COUNTS_FILE = PROJECT_ROOT / "test-artifacts" / "schemathesis.json"

_tokens = Tokens.fresh()
_counts: Counter[str] = Counter()
_statuses: Counter[str] = Counter()


class _FuzzTarget:
    """Where the application's Temporal client connects: the dev server's address is known only
    once the session's server runs, so the fixture below fills it in before any request."""

    settings: ConnectionSettings | None = None

    @classmethod
    async def connect(cls) -> Client:
        assert cls.settings is not None, "the fuzz_target fixture sets the address first"
        return await connect(cls.settings, converter=CONVERTER)


# The client is made on first use, in the loop that serves the request (the ASGI test
# transport's own), by the project's one client factory.
_app = create_app(
    ApiSettings(
        intake_per_minute=60_000,
        intake_burst=10_000,
        report_per_minute=60_000,
        report_burst=10_000,
        read_per_minute=600_000,
        read_burst=100_000,
    ),
    _tokens.registry(),
    TemporalConnection(connection_settings({}), factory=_FuzzTarget.connect),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.fixture(scope="module")
def fuzz_target(dev_env: WorkflowEnvironment) -> Iterator[None]:
    address = dev_env.client.service_client.config.target_host
    _FuzzTarget.settings = connection_settings(
        {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": API_FUZZ_NAMESPACE}
    )
    yield
    _write_counts(COUNTS_FILE)


def _write_counts(path: Path) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "operations": len(_counts),
                "examples": sum(_counts.values()),
                "examples_per_operation": dict(sorted(_counts.items())),
                "responses_by_status": dict(sorted(_statuses.items())),
                "seed": SEED,
                "max_examples": EXAMPLES_PER_OPERATION,
            },
            indent=1,
        )
        + "\n"
    )


def _fuzz_test(label: str, name: str) -> Callable[..., None]:
    @schema.include(name=label).parametrize()
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def test(case: schemathesis.Case, fuzz_target: None) -> None:
        response = case.call(headers=bearer(_tokens.admin))
        _counts[f"{case.operation.method.upper()} {case.operation.path}"] += 1
        _statuses[str(response.status_code)] += 1
        # Raises (fails the test, with the request that did it) when any check fails.
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )

    test.__name__ = test.__qualname__ = name
    test.__doc__ = f"No generated request to {label} gets a server error."
    return test


# One test function per operation, each with its own node id. `schema.parametrize()` on one
# function gives each operation a test named `...[POST /tickets]`, but schemathesis 4.32 under
# pytest 9 leaves all of them the function's node id, and pytest-xdist, which keys its work by
# node id, ran one operation of nine (docs/testing.md).
OPERATIONS = sorted(result.ok().label for result in schema.get_all_operations())
for _label in OPERATIONS:
    _slug = re.sub(r"\W+", "_", _label).strip("_").lower()
    _name = f"test_no_generated_request_gets_a_server_error_{_slug}"
    globals()[_name] = _fuzz_test(_label, _name)
