"""End to end, live: Prometheus and Alertmanager from the distribution's packages, the
generated rules and config with compressed timings, and a stand-in for the relay that
records the pages. A critical alert pages the member on call by push, then SMS, then
voice, then the secondary, until a silence on the alertname stops it."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from pagerkit.cli import main
from pagerkit.oncall.routing import WEEKDAYS, load_routing
from pagerkit.oncall.who import who
from tests.conftest import ROOT, free_port, require
from tests.harness.paging import AlertmanagerProcess, Recorder, Target
from tests.harness.prometheus_process import paging_prometheus

pytestmark = pytest.mark.integration

ALERTS = """
runbook_base_url: http://localhost:9630/playbooks
min_critical_for: 1s
groups:
  - name: e2e
    alerts:
      - name: TestBreach
        severity: critical
        expr: test_breach > 0
        for: 1s
        summary: The test breach lasts.
        description: Breach on {{ $labels.source }}.
        playbook: jobs.md#jobswaitingtoolong
      - name: TestWarning
        severity: warning
        expr: test_warning > 0
        for: 1s
        summary: The test warning lasts.
        description: Warning on {{ $labels.source }}.
        playbook: jobs.md#backloggrowing
"""


def routing(relay: str, working_now: bool) -> str:
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=14)
    other = WEEKDAYS[(today.weekday() + 3) % 7]
    weekdays = "[" + ", ".join(WEEKDAYS) + "]" if working_now else f"[{other}]"
    return textwrap.dedent(f"""
        relay_url: {relay}
        horizon: 4w
        timing: {{group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
        teams:
          - name: platform
            timezone: UTC
            working_hours: {{weekdays: {weekdays}, start: "00:00", end: "23:59"}}
            chat: {{webhook_url: {relay}/chat}}
            members:
              - {{name: alice, timezone: Europe/Berlin, channels: [push, sms, voice]}}
              - {{name: bob, timezone: America/New_York, channels: [push, sms, voice]}}
              - {{name: carol, timezone: Pacific/Auckland, channels: [push, sms, voice]}}
            schedule:
              weekly_rotation:
                order: [alice, bob, carol]
                handoff_day: {WEEKDAYS[start.weekday()]}
                handoff_time: "00:00"
                start: "{start.isoformat()}"
            escalation:
              - {{after: 0s, target: primary, channel: push}}
              - {{after: 3s, target: primary, channel: sms}}
              - {{after: 6s, target: primary, channel: voice}}
              - {{after: 9s, target: secondary, channel: voice}}
        """)


class Stack:
    """A repository with the test's specs, generated; Alertmanager(s); Prometheus."""

    def __init__(self, tmp: Path, working_now: bool = True, cluster: bool = False) -> None:
        require(shutil.which("prometheus") is not None, "prometheus (Debian package)")
        require(shutil.which("prometheus-alertmanager") is not None,
                "prometheus-alertmanager (Debian package)")
        self.recorder, self.target = Recorder(), Target()
        (tmp / "rules").mkdir()
        (tmp / "rules" / "alerts.yaml").write_text(ALERTS)
        shutil.copytree(ROOT / "alertmanager" / "templates", tmp / "alertmanager" / "templates")
        (tmp / "alertmanager" / "routing.yaml").write_text(
            routing(self.recorder.url, working_now))
        assert main(["generate", "--root", str(tmp)]) == 0
        self.team = load_routing(tmp).teams[0]
        config = tmp / "alertmanager" / "alertmanager.yml"
        ports = [(free_port(), free_port()) for _ in range(2 if cluster else 1)]
        self.alertmanagers = [
            AlertmanagerProcess(config, web, cluster_port=gossip if cluster else None,
                                peers=tuple(g for _, g in ports if g != gossip))
            for web, gossip in ports]
        self.prometheus = paging_prometheus(tmp / "rules" / "generated", self.target.address,
                                            [am.url for am in self.alertmanagers])

    def on_call(self) -> tuple[str, str]:
        primary, secondary = who(self.team, dt.datetime.now(dt.UTC))
        assert primary is not None and secondary is not None
        return primary, secondary

    def close(self) -> None:
        self.prometheus.stop()
        for am in self.alertmanagers:
            am.stop()
        self.recorder.close()
        self.target.close()


@pytest.fixture
def stack(tmp_path):
    made: list[Stack] = []

    def make(**kwargs) -> Stack:  # type: ignore[no-untyped-def]
        made.append(Stack(tmp_path, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_a_page_escalates_tier_by_tier_to_who_is_on_call(stack):
    """Push to the member `oncall who` names, with the playbook link; unacknowledged,
    SMS, then voice, then the secondary by voice, in that order and at their delays."""
    s = stack()
    primary, secondary = s.on_call()
    s.target.values[("test_breach", "test")] = 1
    push = s.recorder.wait_for(f"/page/platform/{primary}/push", 30)
    sms = s.recorder.wait_for(f"/page/platform/{primary}/sms", 30)
    voice = s.recorder.wait_for(f"/page/platform/{primary}/voice", 30)
    second = s.recorder.wait_for(f"/page/platform/{secondary}/voice", 30)
    assert push.at < sms.at < voice.at < second.at
    assert 2 <= sms.at - push.at <= 8 and 2 <= voice.at - sms.at <= 8
    alert = push.body["alerts"][0]
    assert alert["labels"]["alertname"] == "TestBreach"
    assert alert["annotations"]["runbook_url"] == \
        "http://localhost:9630/playbooks/jobs.md#jobswaitingtoolong"
    others = {m.name for m in s.team.members} - {primary, secondary}
    assert not [p for p in s.recorder.paths() if any(f"/{o}/" in p for o in others)]


def test_a_silence_on_the_alertname_stops_the_later_tiers(stack):
    s = stack()
    primary, _ = s.on_call()
    s.target.values[("test_breach", "test")] = 1
    s.recorder.wait_for(f"/page/platform/{primary}/push", 30)
    s.alertmanagers[0].silence("TestBreach")
    time.sleep(14)
    assert s.recorder.paths() == [f"/page/platform/{primary}/push"]


def test_a_warning_reaches_chat_and_nothing_else_in_working_hours(stack):
    s = stack(working_now=True)
    s.target.values[("test_warning", "other")] = 1
    chat = s.recorder.wait_for("/chat", 30)
    assert {a["labels"]["alertname"] for a in chat.body["alerts"]} == {"TestWarning"}
    time.sleep(3)
    assert s.recorder.paths() == []


def test_no_warning_outside_working_hours(stack):
    s = stack(working_now=False)
    primary, _ = s.on_call()
    s.target.values[("test_warning", "other")] = 1
    s.target.values[("test_breach", "test")] = 1
    s.recorder.wait_for(f"/page/platform/{primary}/sms", 30)  # the pipeline works
    assert s.recorder.paths("/chat") == []


def test_a_critical_alert_inhibits_the_warning_of_the_same_source(stack):
    s = stack(working_now=True)
    primary, _ = s.on_call()
    s.target.values[("test_breach", "test")] = 1
    s.recorder.wait_for(f"/page/platform/{primary}/push", 30)
    s.target.values[("test_warning", "test")] = 1
    s.target.values[("test_warning", "other")] = 1
    chat = s.recorder.wait_for("/chat", 30)
    time.sleep(3)
    sources = {a["labels"]["source"] for r in s.recorder.received if r.path == "/chat"
               for a in r.body["alerts"]}
    assert sources == {"other"}, chat


def test_two_clustered_alertmanagers_page_once(stack):
    s = stack(cluster=True)
    primary, secondary = s.on_call()
    s.target.values[("test_breach", "test")] = 1
    s.recorder.wait_for(f"/page/platform/{secondary}/voice", 45)
    time.sleep(8)  # a duplicate from the second Alertmanager would have arrived by now
    counts = Counter(s.recorder.paths())
    assert counts == {f"/page/platform/{primary}/push": 1, f"/page/platform/{primary}/sms": 1,
                      f"/page/platform/{primary}/voice": 1,
                      f"/page/platform/{secondary}/voice": 1}


def test_an_alert_firing_while_alertmanager_restarts_is_delivered(stack):
    s = stack()
    primary, _ = s.on_call()
    am = s.alertmanagers[0]
    am.stop(remove=False)
    s.target.values[("test_breach", "test")] = 1
    time.sleep(4)  # the alert fires while nobody listens
    am.start()
    s.recorder.wait_for(f"/page/platform/{primary}/push", 30)
