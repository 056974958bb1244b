"""Fixtures for the LLM provider tests.

One FakeLLMServer (on 127.0.0.1) serves the whole session, because stopping one takes half a
second; each test gets it with no script, no responder and no recorded requests.
"""

from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLMServer


@pytest.fixture(scope="session")
def shared_fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakeLLMServer) -> Iterator[FakeLLMServer]:
    shared_fake.script.clear()
    shared_fake.responder = None
    shared_fake.requests.clear()
    yield shared_fake
    shared_fake.script.clear()
    shared_fake.responder = None
