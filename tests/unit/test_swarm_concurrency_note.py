"""`swarm` says when its concurrency is more than a chunk holds: chunks run one after another,
so the window never holds more than one chunk's items, and `--concurrency 200 --chunk-size 50`
ran 50 at once without a word."""

import json
from pathlib import Path

import pytest

from starter import cli, fanout
from starter.errors import CliError


@pytest.mark.parametrize(("concurrency", "chunk", "said"), [(20, 5, True), (5, 20, False)])
def test_a_concurrency_past_the_chunk_size_is_said(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    concurrency: int,
    chunk: int,
    said: bool,
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"id": f"r{n}", "text": f"Review number {n}."}) + "\n" for n in range(30)
        )
    )

    async def no_server() -> object:
        raise CliError("no server here (the test stops at the connection)")

    monkeypatch.setattr(fanout, "open_client", no_server)
    code = cli.main(
        ["swarm", str(items), "--concurrency", str(concurrency), "--chunk-size", str(chunk)]
    )

    err = capsys.readouterr().err
    assert code != 0 and "no server here" in err
    assert ("at most 5 items at once, not 20" in err) is said
