"""Live, end to end: Prometheus and Alertmanager from the distribution's packages, the
generated rules and Alertmanager config with tiers 5 s apart, the relay, and a stand-in for
Twilio and Pushover. A critical alert reaches push, SMS and voice in order and stops at the
first acknowledgement, whichever of the four ways it comes."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from pagerkit.cli import main
from pagerkit.oncall.routing import load_routing
from pagerkit.oncall.who import who
from tests.conftest import ROOT, free_port, require
from tests.harness.paging import AlertmanagerProcess, Recorder, Target
from tests.harness.prometheus_process import PrometheusProcess, paging_prometheus
from tests.harness.provider_standin import ProviderStandIn
from tests.harness.relay import (
    PHONES,
    RunningRelay,
    relay_yaml,
    routing_yaml,
    silences,
    write_secrets,
)
from tests.integration.relay.test_paging_e2e import ALERTS

pytestmark = pytest.mark.integration
STEP = 5  # seconds between tiers


class Stack:
    def __init__(self, tmp: Path) -> None:
        require(shutil.which("prometheus") is not None, "prometheus (Debian package)")
        require(shutil.which("prometheus-alertmanager") is not None,
                "prometheus-alertmanager (Debian package)")
        self.tmp = tmp
        self.provider, self.chat, self.target = ProviderStandIn(), Recorder(), Target()
        password = write_secrets(tmp)
        port = free_port()
        (tmp / "rules").mkdir()
        (tmp / "rules" / "alerts.yaml").write_text(ALERTS)
        shutil.copytree(ROOT / "alertmanager" / "templates", tmp / "alertmanager" / "templates")
        (tmp / "alertmanager" / "routing.yaml").write_text(
            routing_yaml(f"http://127.0.0.1:{port}", f"{self.chat.url}/chat", password, STEP))
        assert main(["generate", "--root", str(tmp)]) == 0
        self.team = load_routing(tmp).teams[0]
        self.am = AlertmanagerProcess(tmp / "alertmanager" / "alertmanager.yml", free_port())
        self.relay: RunningRelay | None = None
        self.prometheus: PrometheusProcess | None = None
        try:
            self.config = relay_yaml(tmp, port, tmp / "alertmanager" / "routing.yaml",
                                     [self.am.url], self.provider.url)
            self.relay = RunningRelay(self.config)
            self.prometheus = paging_prometheus(tmp / "rules" / "generated",
                                                self.target.address, [self.am.url],
                                                resend_delay="1s")
        except BaseException:
            self.close()
            raise
        primary, secondary = who(self.team, dt.datetime.now(dt.UTC))
        assert primary and secondary
        self.primary, self.secondary = primary, secondary

    def breach(self, value: float = 1) -> None:
        self.target.values[("test_breach", "test")] = value

    def push_to(self, member: str, count: int = 1) -> str:
        """The acknowledgement link of the ``count``-th push to ``member``."""
        push = self.provider.wait_for("push", f"u{member}{'0' * 24}", 40, count)
        return push.fields["url"]

    def quiet_for(self, seconds: float) -> list[tuple[str, str]]:
        """What the provider got, after waiting ``seconds``."""
        time.sleep(seconds)
        return [(s.kind, s.to) for s in self.provider.sent]

    def close(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.relay is not None:
            self.relay.stop()
        self.am.stop()
        for helper in (self.provider, self.chat, self.target):
            helper.close()


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    yield s
    s.close()


def push(member: str) -> tuple[str, str]:
    return ("push", f"u{member}{'0' * 24}")


def test_push_sms_voice_in_order_then_a_key_press_stops_it(stack):
    s = stack
    s.breach()
    s.push_to(s.primary)
    sms = s.provider.wait_for("sms", PHONES[s.primary], 40)
    assert re.search(r"\nAck: http://127\.0\.0\.1:\d+/a/\S+\n", sms.fields["Body"])
    assert sms.fields["Body"].endswith(
        "\nPlaybook: http://localhost:9630/playbooks/jobs.md#jobswaitingtoolong")
    call = s.provider.wait_for("call", PHONES[s.primary], 40)
    assert "Press 1 to acknowledge." in call.fields["Twiml"]
    pushed = s.provider.of("push")[0]
    assert pushed.at < sms.at < call.at
    answer = s.provider.press(call, "1")
    assert answer.status_code == 200 and "Acknowledged for 30 minutes" in answer.text
    [silence] = silences(s.am.url)
    assert silence["createdBy"] == s.primary
    assert silence["comment"] == f"pagerkit ack: {s.primary} by voice key press"
    assert s.quiet_for(2 * STEP) == [push(s.primary), ("sms", PHONES[s.primary]),
                                     ("call", PHONES[s.primary])]
    texts = [r.body.get("text", "") for r in s.chat.received]
    assert any(t.startswith(f"{s.primary} acknowledged TestBreach (team platform) by voice "
                            "key press at ") for t in texts), texts


def test_the_link_in_the_push_stops_it(stack):
    s = stack
    s.breach()
    link = s.push_to(s.primary)
    assert requests.post(link, data={"for": "30m"}, timeout=10).status_code == 200
    assert s.quiet_for(2 * STEP) == [push(s.primary)]


def test_an_sms_reply_stops_it(stack):
    s = stack
    s.breach()
    s.provider.wait_for("sms", PHONES[s.primary], 40)
    answer = s.provider.reply(s.relay.url if s.relay else "", PHONES[s.primary], " ack ")
    assert answer.status_code == 200 and "Acknowledged TestBreach." in answer.text
    [silence] = silences(s.am.url)
    assert silence["comment"] == f"pagerkit ack: {s.primary} by sms reply"
    assert s.quiet_for(2 * STEP) == [push(s.primary), ("sms", PHONES[s.primary])]


def test_pagerkit_ack_on_the_command_line_stops_it(stack):
    s = stack
    s.breach()
    s.push_to(s.primary)
    assert main(["ack", "TestBreach", "--team", "platform", "--alertmanager", s.am.url,
                 "--root", str(s.tmp)]) == 0
    assert s.quiet_for(2 * STEP) == [push(s.primary)]


@pytest.mark.parametrize("restart", [False, True], ids=["same relay", "relay restarted"])
def test_after_resolving_the_next_breach_pages_again(stack, restart):
    """The acknowledgement ends when the alert resolves, before Alertmanager flushes the
    resolved alert (its resolved notification reaches the relay, not muted), so the next
    incident pages, even when the relay restarted in between (the silences are
    Alertmanager's, not the relay's)."""
    s = stack
    s.breach()
    link = s.push_to(s.primary)
    assert requests.post(link, data={"for": "2h"}, timeout=10).status_code == 200
    if restart and s.relay is not None:
        s.relay.stop()
        s.relay = None
    s.breach(0)
    deadline = time.monotonic() + 30
    while requests.get(f"{s.am.url}/api/v2/alerts", timeout=5).json() and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    if restart:
        assert len(silences(s.am.url)) == 1  # nobody expired it while the relay was away
        s.relay = RunningRelay(s.config)
    deadline = time.monotonic() + 15
    while silences(s.am.url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert silences(s.am.url) == []
    resolved = 'pagerkit_relay_notifications_total{channel="push",outcome="resolved"} 1.0'
    deadline = time.monotonic() + 20  # group_interval, 10 s, and some
    while resolved not in (metrics := requests.get(f"{s.relay.url}/metrics", timeout=5).text
                           if s.relay else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert resolved in metrics
    s.breach()
    s.push_to(s.primary, count=2)
