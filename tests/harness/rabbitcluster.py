"""A private RabbitMQ cluster on loopback, for tests that need more than one node.

Each node runs as the ``rabbitmq`` user with its own node name (``pk<n>-<random>@localhost``),
ports (AMQP, distribution, management, prometheus) and data and log directories under a
temporary folder, and the machine's Erlang cookie; the machine's own broker
(``rabbit@localhost``) is never touched. ``management_agent.disable_metrics_collector``
is on, as in the official images without ``-management``: the management API lists
queues but no queue figures, which only the ``rabbitmq_prometheus`` plugin has.
Everything is stopped and removed on ``close()``, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, require

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
USER = "rabbitmq"


@dataclass
class RabbitNode:
    name: str
    amqp_port: int
    dist_port: int
    management_port: int
    prometheus_port: int
    base: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def plugin_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"


class RabbitCluster:
    """``size`` nodes joined into one cluster; ``ctl(node, ...)`` runs rabbitmqctl on one."""

    def __init__(self, size: int = 2) -> None:
        require(shutil.which("runuser") is not None and (RABBIT_BIN / "rabbitmq-server").exists()
                and os.geteuid() == 0, "RabbitMQ's server scripts and root (to run nodes as "
                                       "the rabbitmq user)")
        self.tag = secrets.token_hex(3)
        self.root = Path(tempfile.mkdtemp(prefix=f"pagerkit-rabbit-{self.tag}-"))
        account = pwd.getpwnam(USER)
        self._home = account.pw_dir
        os.chown(self.root, account.pw_uid, account.pw_gid)
        self.nodes = [self._node(i + 1, account) for i in range(size)]
        try:
            for node in self.nodes:
                self._start(node)
            for node in self.nodes:
                self.await_node(node)
            for node in self.nodes[1:]:
                self.ctl(node, "stop_app")
                self.ctl(node, "join_cluster", self.nodes[0].name)
                self.ctl(node, "start_app")
                self.ctl(node, "await_startup", timeout=120)
        except BaseException:
            self.close()
            raise

    def _node(self, index: int, account: pwd.struct_passwd) -> RabbitNode:
        node = RabbitNode(f"pk{index}-{self.tag}@localhost", free_port(), free_port(),
                          free_port(), free_port(), self.root / f"pk{index}")
        for sub in ("", "mnesia", "log"):
            (node.base / sub).mkdir(exist_ok=True)
            os.chown(node.base / sub, account.pw_uid, account.pw_gid)
        (node.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {node.management_port}\n"
            f"prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = {node.prometheus_port}\n"
            "management_agent.disable_metrics_collector = true\n"
            "collect_statistics_interval = 1000\n"
            "loopback_users = none\n")
        (node.base / "enabled_plugins").write_text(
            "[rabbitmq_management,rabbitmq_prometheus].\n")
        (node.base / "rabbitmq-env.conf").write_text("")
        return node

    def _env(self, node: RabbitNode) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self._home,
            "LANG": "C.UTF-8", "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(node.base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _start(self, node: RabbitNode) -> None:
        env = self._env(node)
        argv = ["runuser", "-u", USER, "--", "env", *(f"{k}={v}" for k, v in env.items()),
                str(RABBIT_BIN / "rabbitmq-server")]
        with (node.base / "server.out").open("wb") as out:
            node.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            cwd=node.base)

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 60) -> str:
        env = self._env(node)
        argv = ["runuser", "-u", USER, "--", "env", *(f"{k}={v}" for k, v in env.items()),
                str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", node.name, *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30,
                              check=False, cwd=node.base)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {node.name} {' '.join(args)} failed: "
                               f"{(done.stderr or done.stdout).strip()[-600:]}\n"
                               f"{self._log_tail(node)}")
        return done.stdout.strip()

    def await_node(self, node: RabbitNode, timeout: float = 120) -> None:
        """Until the node's Erlang VM answers, then until RabbitMQ has booted."""
        deadline = time.monotonic() + timeout
        while True:
            assert node.process is not None
            if node.process.poll() is not None:
                out = (node.base / "server.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{node.name} exited with {node.process.returncode}:\n"
                                   f"{out}\n{self._log_tail(node)}")
            try:
                self.ctl(node, "await_startup", timeout=max(1.0, deadline - time.monotonic()))
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def wait_plugin(self, node: RabbitNode, timeout: float = 60) -> None:
        """Until the node's prometheus listener answers (it starts after ``start_app``)."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(node.plugin_url + "/metrics", timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{node.plugin_url} did not answer within {timeout:g}s")

    def _log_tail(self, node: RabbitNode) -> str:
        logs = sorted((node.base / "log").glob("*.log"))
        if not logs:
            return ""
        return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-20:])

    def close(self) -> None:
        for node in reversed(self.nodes):
            if node.process is None or node.process.poll() is not None:
                continue
            with contextlib.suppress(Exception):
                self.ctl(node, "stop", timeout=60)
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, 9)
                node.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
