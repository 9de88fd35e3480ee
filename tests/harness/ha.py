"""The highly available paging path on loopback: two Alertmanager peers in a cluster, a
relay beside each (``pagerkit relay`` in its own process, so that a test can SIGKILL it),
the Twilio and Pushover stand-in, a chat recorder and, when asked, Prometheus with the
Watchdog. Timings are compressed: a peer timeout of a second, a heartbeat every second or
two, a heartbeat deadline of seconds.

On loopback both relays cannot share one address, so each Alertmanager gets the generated
config with only ``relay_url`` changed to its own relay's port: what the one shared config
with ``relay_url: http://127.0.0.1:9632`` does on hosts of their own.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from pagerkit.cli import main
from pagerkit.oncall.routing import load_routing
from pagerkit.oncall.who import who
from tests.conftest import ROOT, free_port, require
from tests.harness.paging import Recorder
from tests.harness.prometheus_process import (
    PrometheusProcess,
    paging_prometheus,
    stop_process,
    wait_ready,
)
from tests.harness.provider_standin import ProviderStandIn
from tests.harness.relay import PHONES, WEBHOOK_PASSWORD, relay_yaml, routing_yaml

ALERTS = """
runbook_base_url: http://localhost:9630/playbooks
min_critical_for: 1s
groups:
  - name: ha
    alerts:
      - name: TestBreach
        severity: critical
        expr: test_breach > 0
        for: 1s
        summary: The test breach lasts.
        description: Breach on {{ $labels.source }}.
        playbook: jobs.md#jobswaitingtoolong
      - name: Watchdog
        severity: info
        expr: vector(1)
        summary: The alerting pipeline works.
        description: Always fires.
        playbook: monitoring.md#watchdog
"""


class AlertmanagerPeer:
    """One peer of the cluster, with the peer timeout the test chooses (the harness's
    AlertmanagerProcess fixes 3 s)."""

    def __init__(self, config: Path, port: int, gossip: int, peers: tuple[int, ...],
                 peer_timeout: str) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        require(binary is not None, "prometheus-alertmanager (Debian package)")
        self.storage = Path(tempfile.mkdtemp(prefix="pagerkit-ha-am-"))
        self.url = f"http://127.0.0.1:{port}"
        self.args = [str(binary), f"--config.file={config}", f"--storage.path={self.storage}",
                     f"--web.listen-address=127.0.0.1:{port}",
                     f"--cluster.listen-address=127.0.0.1:{gossip}",
                     f"--cluster.peer-timeout={peer_timeout}", "--cluster.settle-timeout=1s",
                     "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=2s",
                     *(f"--cluster.peer=127.0.0.1:{p}" for p in peers)]
        self.start()

    def start(self) -> None:
        self.log = open(self.storage / "log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready("alertmanager", self.proc, self.url, self.storage / "log")

    def status(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/api/v2/status", timeout=5).json())

    def stop(self, remove: bool = True) -> None:
        stop_process(self.proc, self.log)
        if remove:
            shutil.rmtree(self.storage, ignore_errors=True)


class RelayProcess:
    """``pagerkit relay`` in a process of its own."""

    def __init__(self, config: Path, port: int) -> None:
        self.config, self.url = config, f"http://127.0.0.1:{port}"
        self.logfile = config.parent / "relay.log"
        self.start()

    def start(self) -> None:
        self.log = open(self.logfile, "ab")  # noqa: SIM115 - closed in stop() and kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pagerkit", "relay", "--config", str(self.config)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "exporter")})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited: {self.logfile.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/-/healthy", timeout=1).status_code == 200:
                    return
            except requests.exceptions.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"relay not ready: {self.logfile.read_text()[-3000:]}")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no answer to what is in flight, nothing said to the peer."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.alive:
            stop_process(self.proc, self.log)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of the relay's /metrics (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(f"{self.url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    return float(sample.value)
        return 0.0


class HaSet:
    """Two Alertmanager peers, two relays (``relay-1`` beside peer 0, ``relay-2`` beside
    peer 1), each relay asking the other; ``prometheus=True`` adds Prometheus with the
    Watchdog and TestBreach against ``target`` (host:port)."""

    def __init__(self, tmp: Path, peer_timeout: str = "1s", deadline: str = "8s",
                 step: int = 3600, target: str | None = None) -> None:
        self.tmp = tmp
        self.provider, self.chat = ProviderStandIn(), Recorder()
        self.alertmanagers: list[AlertmanagerPeer] = []
        self.relays: list[RelayProcess] = []
        self.prometheus: PrometheusProcess | None = None
        try:
            self._start(peer_timeout, deadline, step, target)
        except BaseException:
            self.close()
            raise

    def _start(self, peer_timeout: str, deadline: str, step: int, target: str | None) -> None:
        relay_ports = [free_port(), free_port()]
        web, gossip = [free_port(), free_port()], [free_port(), free_port()]
        bundle = self.tmp / "bundle"
        password = bundle / "relay_password"
        (bundle / "rules").mkdir(parents=True)
        (bundle / "rules" / "alerts.yaml").write_text(ALERTS)
        shutil.copytree(ROOT / "alertmanager" / "templates", bundle / "alertmanager" / "templates")
        password.write_text(WEBHOOK_PASSWORD + "\n")
        routing = bundle / "alertmanager" / "routing.yaml"
        routing.write_text(routing_yaml(f"http://127.0.0.1:{relay_ports[0]}",
                                        f"{self.chat.url}/chat", password, step))
        assert main(["generate", "--root", str(bundle)]) == 0
        self.team = load_routing(bundle).teams[0]
        generated = (bundle / "alertmanager" / "alertmanager.yml").read_text()
        for i in (0, 1):
            path = bundle / "alertmanager" / f"peer{i}.yml"
            path.write_text(peer_config(generated, f"http://127.0.0.1:{relay_ports[0]}",
                                        f"http://127.0.0.1:{relay_ports[i]}"))
            self.alertmanagers.append(AlertmanagerPeer(path, web[i], gossip[i],
                                                       (gossip[1 - i],), peer_timeout))
        key = os.urandom(32).hex()
        for i in (0, 1):
            folder = self.tmp / f"relay-{i + 1}"
            folder.mkdir()
            (folder / "relay_password").write_text(WEBHOOK_PASSWORD + "\n")
            (folder / "signing_key").write_text(key)  # shared: either relay opens a link
            ams = [self.alertmanagers[i].url, self.alertmanagers[1 - i].url]
            config = relay_yaml(folder, relay_ports[i], routing, ams, self.provider.url)
            with config.open("a") as f:
                f.write(textwrap.indent(textwrap.dedent(f"""\
                    name: relay-{i + 1}
                    peers: [http://127.0.0.1:{relay_ports[1 - i]}]
                    peer_interval: 500ms
                    peer_timeout: 300ms
                    peer_down_after: 2s
                    heartbeat_deadline: {deadline}
                    """), "  "))
            self.relays.append(RelayProcess(config, relay_ports[i]))
        self.wait_for_cluster()
        if target is not None:  # after the relays: an Alertmanager that found no relay
            self.prometheus = self.start_prometheus(target)  # backs off for seconds
        primary, _ = who(self.team, dt.datetime.now(dt.UTC))
        assert primary is not None
        self.primary = primary
        self.phone, self.push_key = PHONES[primary], f"u{primary}{'0' * 24}"

    def start_prometheus(self, target: str) -> PrometheusProcess:
        return paging_prometheus(self.tmp / "bundle" / "rules" / "generated", target,
                                 [am.url for am in self.alertmanagers], resend_delay="1s")

    def wait_for_heartbeat(self, seconds: float = 20) -> None:
        """Until a relay heard the Watchdog."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(r.metric("pagerkit_relay_last_heartbeat_timestamp_seconds") for r in
                   self.relays):
                return
            time.sleep(0.2)
        raise AssertionError("no relay heard the Watchdog")

    def wait_for_cluster(self, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if all(len(am.status()["cluster"]["peers"]) == 2 for am in self.alertmanagers):
                return
            time.sleep(0.1)
        raise AssertionError("the Alertmanager peers did not join")

    def first(self) -> int:
        """Which peer sends first (position 0: the lowest peer name), and so whose relay
        a test kills to make the other take over."""
        names = [am.status()["cluster"]["name"] for am in self.alertmanagers]
        return names.index(min(names))

    def fire(self, alerts: list[dict[str, Any]], minutes: float = 10) -> None:
        """What Prometheus does: the alerts to every peer."""
        ends = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()
        for am in self.alertmanagers:
            requests.post(f"{am.url}/api/v2/alerts", json=[{**a, "endsAt": ends}
                                                           for a in alerts],
                          timeout=5).raise_for_status()

    def resolve(self, alerts: list[dict[str, Any]]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat()
        for am in self.alertmanagers:
            requests.post(f"{am.url}/api/v2/alerts", json=[{**a, "endsAt": now}
                                                           for a in alerts],
                          timeout=5).raise_for_status()

    def pipeline_messages(self, kind: str = "sms") -> list[str]:
        """The texts of the pipeline-down and restored messages the on-call member got."""
        found = self.provider.of(kind, self.phone if kind == "sms" else self.push_key)
        return [s.fields.get("Body") or s.fields.get("message", "") for s in found
                if "pipeline" in (s.fields.get("Body") or s.fields.get("title", ""))
                or "restored" in (s.fields.get("Body") or s.fields.get("message", ""))]

    def close(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        for relay in self.relays:
            relay.stop()
        for am in self.alertmanagers:
            am.stop()
        self.provider.close()
        self.chat.close()


def peer_config(generated: str, relay: str, own_relay: str) -> str:
    """The generated config for one peer: its own relay, and the Watchdog every second or
    two instead of every minute or two."""
    data = yaml.safe_load(generated.replace(relay + "/", own_relay + "/"))
    for route in data["route"]["routes"]:
        if route.get("receiver") == "heartbeat":
            route.update(group_interval="1s", repeat_interval="1s")
    return yaml.safe_dump(data, sort_keys=False)


def incident(name: str, tier: str, summary: str | None = None) -> dict[str, Any]:
    """A critical alert of team platform at ``tier``, its summary naming the incident."""
    return {"labels": {"alertname": name, "severity": "critical", "team": "platform",
                       "tier": tier},
            "annotations": {"summary": summary or f"{name} tier {tier}",
                            "runbook_url": "http://localhost:9630/playbooks/jobs.md#x"},
            "startsAt": dt.datetime.now(dt.UTC).isoformat()}
