"""What the end-to-end paging tests start: a stand-in for the relay that records what it
receives, a metrics target whose value the test sets, and Alertmanager."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from pagerkit.alertmanager import acknowledge
from tests.harness.prometheus_process import stop_process, wait_ready


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    at: float


class Recorder:
    """Records every POST (the relay's pages, the heartbeat, chat) with its time."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with recorder._lock:
                    recorder.received.append(Received(self.path, body, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, prefix: str = "/page/") -> list[str]:
        """Paths of firing notifications, in arrival order."""
        with self._lock:
            return [r.path for r in self.received if r.path.startswith(prefix)
                    and r.body.get("status") == "firing"]

    def wait_for(self, path: str, seconds: float) -> Received:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                found = [r for r in self.received if r.path == path]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"nothing at {path} within {seconds}s; got {self.paths('/')}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Target:
    """A /metrics endpoint serving `test_breach` and `test_warning` for sources `test` and
    `other`, each at the value the test sets (0 until then)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = {}
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = "".join(
                    f'{name}{{source="{source}"}} {target.values.get((name, source), 0.0)}\n'
                    for name in ("test_breach", "test_warning")
                    for source in ("test", "other")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AlertmanagerProcess:
    """Debian's prometheus-alertmanager on loopback; `peers` makes a cluster."""

    def __init__(self, config: Path, port: int, cluster_port: int | None = None,
                 peers: tuple[int, ...] = (), storage: Path | None = None) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise FileNotFoundError("alertmanager (Debian package prometheus-alertmanager)")
        self.storage = storage or Path(tempfile.mkdtemp(prefix="pagerkit-am-"))
        self.url = f"http://127.0.0.1:{port}"
        cluster = [f"--cluster.listen-address=127.0.0.1:{cluster_port}",
                   "--cluster.peer-timeout=3s", "--cluster.settle-timeout=2s",
                   "--cluster.gossip-interval=100ms",
                   *(f"--cluster.peer=127.0.0.1:{p}" for p in peers)] \
            if cluster_port else ["--cluster.listen-address="]
        self.args = [binary, f"--config.file={config}", f"--storage.path={self.storage}",
                     f"--web.listen-address=127.0.0.1:{port}", *cluster]
        self.start()

    def start(self) -> None:
        self.log = open(self.storage / "log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        self.log.flush()
        wait_ready("alertmanager", self.proc, self.url, self.storage / "log")

    def restart(self) -> None:
        """SIGTERM and start again on the same port and data directory, as a deploy does:
        silences and the notification log survive (Alertmanager writes them on SIGTERM),
        alerts do not, until Prometheus sends them again."""
        self.stop(remove=False)
        self.start()

    def started(self) -> str:
        """When this run of Alertmanager started, as its status says."""
        return str(requests.get(f"{self.url}/api/v2/status", timeout=5).json()["uptime"])

    def silence(self, alertname: str, seconds: float = 3600) -> str:
        """The acknowledgement: what `pagerkit ack` and the relay create."""
        return acknowledge(self.url, alertname, None, seconds, "acknowledged").id

    def stop(self, remove: bool = True) -> None:
        stop_process(self.proc, self.log)
        if remove:
            shutil.rmtree(self.storage, ignore_errors=True)

