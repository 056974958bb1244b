"""`make run` picks a free port for the worker's metrics and starts the worker on it; another
process can take the port first (two test processes starting servers at once did), and the
worker stops with "Address already in use". The job then picks another port."""

import pytest

from shared.metrics import METRICS_ADDRESS_ENV
from starter.errors import CliError
from starter.worker_process import METRICS_PORT_TRIES, start_with_metrics

TAKEN = (
    f"the worker exited with code 2:\nworker: configuration error: {METRICS_ADDRESS_ENV}="
    "'127.0.0.1:1': cannot serve metrics there: Address already in use (os error 98)"
)


class FakeWorker:
    """Fails to start while its metrics port is taken ``taken`` times, then starts."""

    def __init__(self, taken: int, error: str = TAKEN) -> None:
        self.taken, self.error = taken, error
        self.addresses: list[str] = []
        self.env: dict[str, str] = {}

    def set_env(self, name: str, value: str) -> None:
        self.env[name] = value

    async def start(self) -> None:
        self.addresses.append(self.env[METRICS_ADDRESS_ENV])
        if len(self.addresses) <= self.taken:
            raise CliError(self.error)


async def test_a_port_taken_meanwhile_is_replaced_by_another() -> None:
    worker = FakeWorker(taken=1)
    served = await start_with_metrics(worker, None)  # type: ignore[arg-type]
    assert len(worker.addresses) == 2 and served == worker.addresses[-1]


async def test_it_gives_up_after_its_tries_and_says_why() -> None:
    worker = FakeWorker(taken=METRICS_PORT_TRIES)
    with pytest.raises(CliError, match="Address already in use"):
        await start_with_metrics(worker, None)  # type: ignore[arg-type]
    assert len(worker.addresses) == METRICS_PORT_TRIES


@pytest.mark.parametrize(
    ("given", "error"),
    [("127.0.0.1:9464", TAKEN), (None, "the worker exited with code 2:\nworker: bad key ring")],
)
async def test_an_address_given_or_another_failure_is_not_retried(
    given: str | None, error: str
) -> None:
    worker = FakeWorker(taken=1, error=error)
    with pytest.raises(CliError):
        await start_with_metrics(worker, given)  # type: ignore[arg-type]
    assert len(worker.addresses) == 1
