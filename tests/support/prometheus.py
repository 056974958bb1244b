"""A real Prometheus server (Debian's `prometheus` package) for tests, and promtool.

Started on 127.0.0.1 and a free port with a temporary config and data directory, scraping and
evaluating rules every second; queried through its HTTP API.
"""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import PROJECT_ROOT, free_port

DEPLOY = PROJECT_ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "tickets.json"
# Seconds: fast enough for a test to see a counter move within a few seconds.
FAST_INTERVAL = "1s"


def tool(name: str) -> str:
    """prometheus / promtool from Debian's package (make test installs it when missing, as root:
    .ci/system-packages)."""
    debian = Path("/usr/bin") / name
    found = shutil.which(name) or (str(debian) if debian.exists() else None)
    if not found:
        raise RuntimeError(
            f"{name} is not installed: apt-get install prometheus "
            "(make test does this as root: .ci/system-packages)"
        )
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def scrape(url: str) -> str:
    """The text a /metrics endpoint serves (blocking: call via asyncio.to_thread in async code)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples of ``name`` in Prometheus text whose labels include ``labels``."""
    found = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            found.append(float(value))
    return found


class PrometheusServer:
    def __init__(self, folder: Path, targets: list[str], rules: Path = RULES) -> None:
        self.port = free_port()
        self.folder = folder
        self.log_path = folder / "prometheus.log"
        # The deployed configuration, with this test's targets and one-second intervals.
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        config["global"] = {
            "scrape_interval": FAST_INTERVAL,
            "evaluation_interval": FAST_INTERVAL,
        }
        config["rule_files"] = [str(rules)]
        # The workers' job, on this test's targets (the API's job has none here).
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        job = jobs["ticket-workers"]
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": targets}]
        config["scrape_configs"] = [job]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={self.folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"prometheus did not become ready: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])
