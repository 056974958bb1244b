"""The codec server as a child process of ``make run`` (like the worker), its output in the data
directory, so the embedded server's Web UI can show tickets decrypted."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx2

from starter.errors import CliError
from starter.spawn import spawned, stop_process

READY_TIMEOUT = 30.0  # seconds; importing the web stack and the SDK takes a second or two


class CodecServerProcess:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        allowed_origins: str | Sequence[str],
        extra_env: dict[str, str] | None = None,
    ) -> None:
        origins = [allowed_origins] if isinstance(allowed_origins, str) else allowed_origins
        self.port = port
        self.log_path = data_dir / "codec-server.log"
        self._command = [
            sys.executable,
            "-m",
            "starter",
            "codec-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *(arg for origin in origins for arg in ("--allow-origin", origin)),
        ]
        self._env = {
            **os.environ,
            "TICKETS_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._process = await spawned(self._command, self.log_path, self._env)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        async with httpx2.AsyncClient(timeout=1.0) as http:
            while loop.time() < deadline:
                if self._process.poll() is not None:
                    raise CliError(
                        f"the codec server exited with code {self._process.returncode}; "
                        f"see {self.log_path}"
                    )
                try:
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                await asyncio.sleep(0.2)
        await self.stop()
        raise CliError(f"the codec server did not answer within {READY_TIMEOUT:.0f}s")

    async def stop(self) -> None:
        process, self._process = self._process, None
        await stop_process(process, 10)
