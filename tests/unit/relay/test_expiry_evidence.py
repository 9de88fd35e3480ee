"""What ends an acknowledgement: evidence that its incident ended, never an Alertmanager
that does not know the alert yet."""

from __future__ import annotations

from typing import Any

import pytest

from pagerkit.alertmanager import Alertmanagers, ack_comment
from pagerkit.relay.expiry import Expiry, PeerView, made_at_terminal
from pagerkit.relay.metrics import RelayMetrics

LABELS = {"alertname": "TestBreach", "team": "platform"}
FIRING = ({**LABELS, "severity": "critical", "tier": "1"},)
RUN_1, RUN_2 = "2026-01-05T10:00:00.000Z", "2026-01-05T10:05:00.000Z"


def silence(channel: str = "push link", sid: str = "s1") -> dict[str, Any]:
    return {"id": sid, "createdBy": "alice", "comment": ack_comment("alice", channel)}


def view(up: float, alerts: tuple[dict[str, str], ...] = (), started: str = RUN_1,
         url: str = "http://am-1") -> PeerView:
    return PeerView(url, started, up, alerts)


@pytest.fixture
def expiry() -> Expiry:
    am = Alertmanagers(("http://am-1", "http://am-2"))
    return Expiry(am, RelayMetrics(), 0.5, resend_window=150.0)


def test_an_alertmanager_that_just_started_is_no_evidence(expiry):
    assert not expiry.incident_ended(silence(), LABELS, [view(20.0)], [])


def test_one_up_past_the_resend_window_is(expiry):
    assert expiry.incident_ended(silence(), LABELS, [view(151.0)], [])


def test_a_peer_that_holds_the_alert_keeps_it_whatever_the_others_say(expiry):
    views = [view(3600.0), view(3600.0, FIRING, url="http://am-2")]
    assert not expiry.incident_ended(silence(), LABELS, views, [])


def test_the_alert_gone_from_the_run_that_held_it_is_evidence_at_once(expiry):
    assert not expiry.incident_ended(silence(), LABELS, [view(10.0, FIRING)], [])
    assert expiry.incident_ended(silence(), LABELS, [view(11.0)], [])


def test_a_restart_since_the_alert_was_held_is_not(expiry):
    assert not expiry.incident_ended(silence(), LABELS, [view(10.0, FIRING)], [])
    assert not expiry.incident_ended(silence(), LABELS, [view(1.0, started=RUN_2)], [])


def test_a_resolved_notification_is_evidence(expiry):
    assert expiry.incident_ended(silence(), LABELS, [view(1.0)], [{**LABELS}])


def test_a_pagerkit_ack_stays_until_its_alert_was_seen(expiry):
    terminal = {**silence("terminal"), "createdBy": "alice"}
    assert made_at_terminal(terminal)
    assert not expiry.incident_ended(terminal, LABELS, [view(3600.0)], [])
    assert not expiry.incident_ended(terminal, LABELS, [view(3600.0, FIRING)], [])
    assert expiry.incident_ended(terminal, LABELS, [view(3601.0)], [])


@pytest.mark.parametrize(("comment", "terminal"), [
    (ack_comment("alice", "terminal"), True),
    (ack_comment("alice", "terminal", "maintenance of db-1"), True),
    (ack_comment("alice", "push link"), False),
    (ack_comment("alice", "sms reply"), False),
    (ack_comment("bob", "terminal"), False),  # not alice's own
])
def test_made_at_terminal(comment, terminal):
    assert made_at_terminal({"createdBy": "alice", "comment": comment}) is terminal
