"""Alertmanager records a resolve that a silence muted as never sent, so the next incident of
the same alert looks like the same alert still firing. An acknowledgement therefore leaves
the first tier unmuted, whoever expires it and whenever: the next incident's first tier is
notified at once, even when the acknowledgement outlived the resolve."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pytest
import requests

from pagerkit.alertmanager import Alertmanagers
from pagerkit.cli import main
from tests.conftest import ROOT, free_port, require
from tests.harness.paging import AlertmanagerProcess, Recorder
from tests.harness.relay import routing_yaml, write_secrets

pytestmark = pytest.mark.integration


def post_alert(am: AlertmanagerProcess, tier: str, start: dt.datetime,
               end: dt.datetime | None = None) -> None:
    alert = {"labels": {"alertname": "TestBreach", "team": "platform", "severity": "critical",
                        "tier": tier, "source": "test"},
             "annotations": {"summary": "s", "description": "d", "runbook_url": "http://x/"},
             "startsAt": start.isoformat()}
    if end is not None:
        alert["endsAt"] = end.isoformat()
    assert requests.post(f"{am.url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200


def firing_pages(recorder: Recorder) -> list[str]:
    return [p for p in recorder.paths() if "/push" in p]


@pytest.fixture
def alertmanager(tmp_path: Path):  # type: ignore[no-untyped-def]
    require(shutil.which("prometheus-alertmanager") is not None,
            "prometheus-alertmanager (Debian package)")
    recorder = Recorder()
    password = write_secrets(tmp_path)
    shutil.copytree(ROOT / "alertmanager" / "templates", tmp_path / "alertmanager" / "templates")
    (tmp_path / "rules").mkdir()
    shutil.copy(ROOT / "rules" / "alerts.yaml", tmp_path / "rules" / "alerts.yaml")
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    (tmp_path / "alertmanager" / "routing.yaml").write_text(
        routing_yaml(recorder.url, f"{recorder.url}/chat", password, 5))
    assert main(["generate", "--root", str(tmp_path)]) == 0
    am = AlertmanagerProcess(tmp_path / "alertmanager" / "alertmanager.yml", free_port())
    yield am, recorder
    am.stop()
    recorder.close()


def test_an_acknowledgement_that_outlives_the_resolve_does_not_hide_the_next_incident(
        alertmanager) -> None:  # type: ignore[no-untyped-def]
    """Page tier 1, acknowledge (the relay's own silence), resolve, let Alertmanager flush
    the group, and only then would the relay have expired the acknowledgement: it is never
    expired here at all. A new incident of the same alert still reaches the pager within
    the critical group_interval (5 s) and a little."""
    am, recorder = alertmanager
    first = dt.datetime.now(dt.UTC)
    post_alert(am, "1", first)
    deadline = time.monotonic() + 10
    while not firing_pages(recorder):
        assert time.monotonic() < deadline, recorder.paths("/")
        time.sleep(0.1)
    Alertmanagers((am.url,)).silence({"alertname": "TestBreach", "team": "platform"},
                                     "alice", "push", 1800.0)
    post_alert(am, "1", first, dt.datetime.now(dt.UTC))
    time.sleep(12)  # two critical group_intervals: the resolve is flushed
    resolved = [r for r in recorder.received if r.body.get("status") == "resolved"]
    assert resolved, "the first tier's resolve was muted by the acknowledgement"
    again = dt.datetime.now(dt.UTC)
    post_alert(am, "1", again)
    deadline = time.monotonic() + 10
    while len(firing_pages(recorder)) < 2:
        assert time.monotonic() < deadline, "the next incident's first tier never paged"
        time.sleep(0.1)
    assert time.monotonic() - (deadline - 10) < 8


def test_an_acknowledgement_mutes_the_later_tiers(alertmanager) -> None:  # type: ignore[no-untyped-def]
    """The acknowledgement still stops the escalation: a tier-2 alert of the acknowledged
    group reaches nobody."""
    am, recorder = alertmanager
    Alertmanagers((am.url,)).silence({"alertname": "TestBreach", "team": "platform"},
                                     "alice", "push", 1800.0)
    post_alert(am, "2", dt.datetime.now(dt.UTC))
    post_alert(am, "1", dt.datetime.now(dt.UTC))
    deadline = time.monotonic() + 10
    while not firing_pages(recorder):
        assert time.monotonic() < deadline, recorder.paths("/")
        time.sleep(0.1)
    time.sleep(6)
    assert [p for p in recorder.paths() if "/sms" in p or "/voice" in p] == []
