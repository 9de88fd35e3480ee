"""What the relay tests start: the relay's config files, the relay itself on loopback, and
the webhook Alertmanager would post."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from pagerkit.relay.app import RelayApp
from pagerkit.relay.config import load_relay_config
from pagerkit.serving import Server, hypercorn_config
from tests.conftest import ROOT, free_port
from tests.harness.paging import AlertmanagerProcess, Recorder
from tests.harness.provider_standin import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    PUSHOVER_TOKEN,
    ProviderStandIn,
)

PHONES = {"alice": "+4915100000001", "bob": "+12125550002", "carol": "+64211234567"}
WEBHOOK_USER, WEBHOOK_PASSWORD = "alertmanager", "webhook-password-for-tests"
ROUTING = """
relay_url: {relay}
relay_auth: {{username: alertmanager, password_file: {password_file}}}
horizon: 4w
timing: {{group_wait: 0s, group_interval: 10s, repeat_interval: 1h}}
teams:
  - name: platform
    timezone: UTC
    chat: {{webhook_url: {chat}}}
    members:
      - {{name: alice, timezone: Europe/Berlin, channels: [push, sms, voice]}}
      - {{name: bob, timezone: America/New_York, channels: [push, sms, voice]}}
      - {{name: carol, timezone: Pacific/Auckland, channels: [push, sms, voice]}}
    schedule:
      weekly_rotation:
        order: [alice, bob, carol]
        handoff_day: {handoff_day}
        handoff_time: "00:00"
        start: "{start}"
    escalation:
      - {{after: 0s, target: primary, channel: push}}
      - {{after: {step}s, target: primary, channel: sms}}
      - {{after: {step2}s, target: primary, channel: voice}}
      - {{after: {step3}s, target: secondary, channel: voice}}
"""


HOSTILE_URLS = (
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "\njavascript:alert(1)",
    "\x00javascript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    " VBScript:msgbox(1)",
    "https:evil.example.com",  # no host: some browsers would go there anyway
    "//evil.example.com/x",  # no scheme: it takes the page's
    "ftp://files.example.com/playbook.md",
    "http://",
    "https://ok.example.com/ playbook",  # a blank inside: never one URL
    "",
)
"""``runbook_url`` annotations that must never become a link: other schemes, whatever their
case or the blanks before them, and addresses without a host."""


def routing_yaml(relay: str, chat: str, password_file: Path, step: int = 5) -> str:
    from pagerkit.oncall.routing import WEEKDAYS

    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=14)
    return ROUTING.format(relay=relay, chat=chat, password_file=password_file,
                          handoff_day=WEEKDAYS[start.weekday()], start=start.isoformat(),
                          step=step, step2=2 * step, step3=3 * step)


def write_secrets(folder: Path) -> Path:
    """The webhook password file (shared by Alertmanager and the relay) and the signing key."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "relay_password").write_text(WEBHOOK_PASSWORD + "\n")
    (folder / "signing_key").write_text(hashlib.sha256(str(folder).encode()).hexdigest())
    return folder / "relay_password"


def relay_yaml(folder: Path, port: int, routing_file: Path, alertmanagers: list[str],
               provider_url: str, expire_interval: str = "500ms",
               resend_window: str = "5s") -> Path:
    members = "\n".join(f"    {name}: {{phone: \"{phone}\", pushover_user_key: u{name}{'0' * 24}}}"
                        for name, phone in PHONES.items())
    path = folder / "relay.yaml"
    path.write_text(textwrap.dedent(f"""\
        relay:
          listen_address: 127.0.0.1:{port}
          public_url: http://127.0.0.1:{port}
          routing_file: {routing_file}
          alertmanagers: {json.dumps(alertmanagers)}
          signing_key_file: signing_key
          link_ttl: 1h
          webhook_auth: {{username: {WEBHOOK_USER}, password_file: relay_password}}
          twilio:
            account_sid: {ACCOUNT_SID}
            auth_token: {AUTH_TOKEN}
            from_number: "{FROM_NUMBER}"
            api_url: {provider_url}
          pushover: {{token: {PUSHOVER_TOKEN}, api_url: {provider_url}}}
          expire_interval: {expire_interval}
          resend_window: {resend_window}
          provider_timeout: 5s
          alertmanager_timeout: 2s
        """) + "  members:\n" + members + "\n")
    return path


class RunningRelay:
    """The relay in this process, on its configured port, with its loops running."""

    def __init__(self, config: Path, clock: Callable[[], float] = time.time) -> None:
        self.config = load_relay_config(str(config))
        self.app = RelayApp(self.config, clock)
        self.server = Server(self.app, hypercorn_config(self.config.listen_host,
                                                        self.config.listen_port, None))
        self.server.start()
        self.app.start()
        self.url = self.config.public_url

    def post(self, path: str, body: Any, auth: tuple[str, str] | None = (
            WEBHOOK_USER, WEBHOOK_PASSWORD)) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(self.url + path, data=data, auth=auth, timeout=15,
                             headers={"Content-Type": "application/json"})

    def stop(self) -> None:
        self.app.stop()
        self.server.stop()


def alert(alertname: str = "TestBreach", tier: str = "1", team: str = "platform",
          starts: dt.datetime | None = None, **labels: str) -> dict[str, Any]:
    start = starts or dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {"labels": {"alertname": alertname, "severity": "critical", "team": team,
                       "tier": tier, **labels},
            "annotations": {"summary": "Jobs wait too long for a worker.",
                            "description": "Jobs in jobs.env-03 wait.",
                            "runbook_url": "http://localhost:9630/playbooks/jobs.md#"
                                           "jobswaitingtoolong"},
            "startsAt": start.isoformat().replace("+00:00", "Z")}


def webhook(alerts: list[dict[str, Any]], status: str = "firing") -> dict[str, Any]:
    """Alertmanager's version 4 payload for a group of ``alerts``."""
    first = alerts[0]["labels"]
    group = {k: first[k] for k in ("alertname", "team", "tier") if k in first}
    return {"version": "4", "status": status, "receiver": "test",
            "groupKey": "{}:" + json.dumps(group, sort_keys=True), "truncatedAlerts": 0,
            "groupLabels": group, "commonLabels": first, "commonAnnotations": {},
            "externalURL": "http://alertmanager",
            "alerts": [{**a, "status": status, "endsAt": "0001-01-01T00:00:00Z",
                        "fingerprint": hashlib.sha1(json.dumps(a["labels"], sort_keys=True)
                                                    .encode()).hexdigest()[:16],
                        "generatorURL": "http://prometheus/graph"} for a in alerts]}


def fire_in_alertmanager(url: str, alerts: list[dict[str, Any]], minutes: float = 10) -> None:
    """What Prometheus does: post the alerts, valid for ``minutes``."""
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    body = [{**a, "endsAt": ends.isoformat()} for a in alerts]
    requests.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def resolve_in_alertmanager(url: str, alerts: list[dict[str, Any]]) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    body = [{**a, "endsAt": now} for a in alerts]
    requests.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def silences(url: str, state: str = "active") -> list[dict[str, Any]]:
    return [s for s in requests.get(f"{url}/api/v2/silences", timeout=5).json()
            if s["status"]["state"] == state]


class RelaySetup:
    """Alertmanager (the repository's generated config), the provider stand-in, a chat
    recorder and the relay, configured for the team alice, bob and carol; ``dead_first``
    puts an unreachable Alertmanager before the real one."""

    def __init__(self, tmp: Path, alertmanagers: list[str] | None = None,
                 dead_first: bool = False) -> None:
        self.provider, self.chat = ProviderStandIn(), Recorder()
        self.am = AlertmanagerProcess(ROOT / "alertmanager" / "alertmanager.yml", free_port())
        try:
            self._start_relay(tmp, alertmanagers, dead_first)
        except BaseException:
            self.close()
            raise

    def _start_relay(self, tmp: Path, alertmanagers: list[str] | None,
                     dead_first: bool) -> None:
        password = write_secrets(tmp)
        self.port = free_port()
        routing = tmp / "routing.yaml"
        routing.write_text(routing_yaml(f"http://127.0.0.1:{self.port}",
                                        f"{self.chat.url}/chat", password))
        dead = [f"http://127.0.0.1:{free_port()}"] if dead_first else []
        self.config = relay_yaml(tmp, self.port, routing,
                                 alertmanagers or [*dead, self.am.url], self.provider.url)
        self.relay = RunningRelay(self.config)

    def close(self) -> None:
        if hasattr(self, "relay"):
            self.relay.stop()
        self.am.stop()
        self.provider.close()
        self.chat.close()
