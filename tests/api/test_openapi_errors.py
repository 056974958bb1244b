"""The OpenAPI document describes the error bodies the API sends: every 422 is an ``ErrorBody``
(a message and the problems, each naming its field), never FastAPI's default
``HTTPValidationError``, which no route answers with."""

from typing import Any

from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from tests.support.api_server import Tokens


def test_every_422_in_the_openapi_document_is_the_error_body_sent(tokens: Tokens) -> None:
    schema: dict[str, Any] = create_app(
        ApiSettings(), tokens.registry(), TemporalConnection()
    ).openapi()

    declared = {
        (path, method): answers["422"]["content"]["application/json"]["schema"]["$ref"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if "422" in (answers := operation.get("responses", {}))
    }
    assert ("/report", "get") in declared  # its `since` is checked by the route
    wrong = {where: ref for where, ref in declared.items() if not ref.endswith("/ErrorBody")}
    assert not wrong, wrong
    assert "HTTPValidationError" not in schema.get("components", {}).get("schemas", {})
