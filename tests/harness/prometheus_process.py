"""Prometheus from the distribution's package, on a free loopback port, for one test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import requests
import yaml

from tests.conftest import free_port


def wait_ready(name: str, proc: subprocess.Popen[bytes], url: str, log: Path,
               seconds: float = 30) -> None:
    """Until ``url``/-/ready answers 200 (Prometheus and Alertmanager both have it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except requests.exceptions.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready: {log.read_text(errors='replace')[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """SIGTERM, then SIGKILL after 15 s; the log closed either way."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class PrometheusProcess:
    def __init__(self, port: int, config: dict[str, Any], extra: tuple[str, ...] = ()) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus (Debian package prometheus)")
        self.dir = Path(tempfile.mkdtemp(prefix="pagerkit-prom-"))
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(self.dir / "log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--web.enable-lifecycle", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        wait_ready("prometheus", self.proc, self.url, self.dir / "log")

    def api(self, path: str, **params: str) -> Any:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def logs(self) -> str:
        self.log.flush()
        return (self.dir / "log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        stop_process(self.proc, self.log)
        shutil.rmtree(self.dir, ignore_errors=True)


def paging_prometheus(rules: Path, target: str, alertmanagers: list[str],
                      resend_delay: str = "2s") -> PrometheusProcess:
    """Prometheus for the paging tests: every rule file under ``rules``, evaluated every
    second against ``target``, alerts to ``alertmanagers`` (their http:// URLs)."""
    return PrometheusProcess(free_port(), {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rules.glob("*.rules.yml")],
        "scrape_configs": [{"job_name": "target", "static_configs": [{"targets": [target]}]}],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [
            url.removeprefix("http://") for url in alertmanagers]}]}]},
    }, extra=(f"--rules.alert.resend-delay={resend_delay}",))
