"""Live: acknowledgements and re-breaches under faults, with Prometheus and Alertmanager from
the distribution's packages, the generated rules and config (tiers 5 s apart), the relay
and a stand-in for Twilio and Pushover.

An acknowledgement ends only on evidence that its incident ended: not when a restarted
Alertmanager does not know the alert yet, nor when a `pagerkit ack` comes before its alert.
And a new incident right after the last one resolved pages its first tier at once."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
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
from tests.harness.relay import RunningRelay, relay_yaml, routing_yaml, silences, write_secrets

pytestmark = pytest.mark.integration
STEP = 5  # seconds between tiers
ALERTS = """
runbook_base_url: http://localhost:9630/playbooks
min_critical_for: 1s
groups:
  - name: faults
    alerts:
      - name: TestBreach
        severity: critical
        expr: test_breach > 0
        for: {for_}
        summary: The test breach lasts.
        description: Breach on {{{{ $labels.source }}}}.
        playbook: jobs.md#jobswaitingtoolong
"""


class FaultStack:
    """Alertmanager (or a clustered pair, which the relay knows in order), Prometheus
    resending every ``resend_delay``, the relay with its ``resend_window``."""

    def __init__(self, tmp: Path, cluster: bool = False, for_: str = "1s",
                 resend_delay: str = "1s", resend_window: str = "5s") -> None:
        require(shutil.which("prometheus") is not None, "prometheus (Debian package)")
        require(shutil.which("prometheus-alertmanager") is not None,
                "prometheus-alertmanager (Debian package)")
        self.tmp = tmp
        self.provider, self.chat, self.target = ProviderStandIn(), Recorder(), Target()
        self.ams: list[AlertmanagerProcess] = []
        self.relay: RunningRelay | None = None
        self.prometheus: PrometheusProcess | None = None
        try:
            self._start(cluster, for_, resend_delay, resend_window)
        except BaseException:
            self.close()
            raise
        primary, secondary = who(load_routing(tmp).teams[0], dt.datetime.now(dt.UTC))
        assert primary and secondary
        self.primary, self.secondary = primary, secondary

    def _start(self, cluster: bool, for_: str, resend_delay: str, resend_window: str) -> None:
        password, port = write_secrets(self.tmp), free_port()
        (self.tmp / "rules").mkdir()
        (self.tmp / "rules" / "alerts.yaml").write_text(ALERTS.format(for_=for_))
        shutil.copytree(ROOT / "alertmanager" / "templates",
                        self.tmp / "alertmanager" / "templates")
        routing = self.tmp / "alertmanager" / "routing.yaml"
        routing.write_text(routing_yaml(f"http://127.0.0.1:{port}", f"{self.chat.url}/chat",
                                        password, STEP))
        assert main(["generate", "--root", str(self.tmp)]) == 0
        config = self.tmp / "alertmanager" / "alertmanager.yml"
        ports = [(free_port(), free_port()) for _ in range(2 if cluster else 1)]
        for web, gossip in ports:
            self.ams.append(AlertmanagerProcess(
                config, web, cluster_port=gossip if cluster else None,
                peers=tuple(g for _, g in ports if g != gossip)))
        urls = [am.url for am in self.ams]
        self.relay = RunningRelay(relay_yaml(self.tmp, port, routing, urls, self.provider.url,
                                             resend_window=resend_window))
        self.prometheus = paging_prometheus(self.tmp / "rules" / "generated",
                                            self.target.address, urls, resend_delay)

    @property
    def am(self) -> AlertmanagerProcess:
        return self.ams[0]

    def breach(self, value: float = 1) -> float:
        """Sets the breach; when, by the monotonic clock the stand-in records with."""
        self.target.values[("test_breach", "test")] = value
        return time.monotonic()

    def push_to(self, member: str, count: int = 1, seconds: float = 40) -> float:
        """When the ``count``-th push to ``member`` arrived."""
        return self.provider.wait_for("push", user_key(member), seconds, count).at

    def acknowledge(self, count: int = 1) -> str:
        """The ``count``-th push's link, followed for 30 minutes; the silence's id."""
        link = self.provider.of("push", user_key(self.primary))[count - 1].fields["url"]
        assert requests.post(link, data={"for": "30m"}, timeout=10).status_code == 200
        [silence] = silences(self.am.url)
        return str(silence["id"])

    def sent(self) -> list[tuple[str, str]]:
        return [(s.kind, s.to) for s in self.provider.sent]

    def resolved_notifications(self) -> float:
        assert self.relay is not None
        text = requests.get(f"{self.relay.url}/metrics", timeout=5).text
        line = 'pagerkit_relay_notifications_total{channel="push",outcome="resolved"} '
        return float(text.split(line, 1)[1].split("\n", 1)[0])

    def close(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.relay is not None:
            self.relay.stop()
        for am in self.ams:
            am.stop()
        for helper in (self.provider, self.chat, self.target):
            helper.close()


@pytest.fixture
def stack(tmp_path):
    made: list[FaultStack] = []

    def make(**kwargs) -> FaultStack:  # type: ignore[no-untyped-def]
        made.append(FaultStack(tmp_path, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def user_key(member: str) -> str:
    return f"u{member}{'0' * 24}"


def seconds_until(done: Callable[[], bool], seconds: float, what: str) -> float:
    """How long until ``done()``; fails after ``seconds``."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"{what} not within {seconds}s")
        time.sleep(0.1)
    return time.monotonic() - start


def alert_gone(am: AlertmanagerProcess) -> Callable[[], bool]:
    return lambda: requests.get(f"{am.url}/api/v2/alerts", timeout=5).json() == []


def active_ids(am: AlertmanagerProcess) -> list[str]:
    return [str(s["id"]) for s in silences(am.url)]


def resolved_promptly(s: FaultStack) -> float:
    """Resolves the breach; how long after every Alertmanager dropped the alert the
    acknowledgement was expired on every one."""
    s.breach(0)
    for am in s.ams:
        seconds_until(alert_gone(am), 15, f"the resolve at {am.url}")
    return seconds_until(lambda: not any(active_ids(am) for am in s.ams), 10,
                         "the acknowledgement's expiry")


def test_an_acknowledgement_survives_an_alertmanager_restart(stack):
    """SIGTERM and start, as a deploy does, while the incident is acknowledged: Prometheus
    resends every 4 s, so the restarted Alertmanager holds no alert for a while; the silence
    (in its data directory) stays, no later tier pages; when the alert resolves, the
    acknowledgement ends at once."""
    s = stack(resend_delay="4s", resend_window="7s")
    s.breach()
    s.push_to(s.primary)
    ack = s.acknowledge()
    before = s.am.started()
    s.am.restart()
    assert s.am.started() != before
    assert active_ids(s.am) == [ack]
    time.sleep(3 * STEP + 3)  # the SMS, the call and the secondary's call are due by now
    assert s.sent() == [("push", user_key(s.primary))]
    assert active_ids(s.am) == [ack]
    assert resolved_promptly(s) < 2


def test_an_acknowledgement_survives_the_restart_of_one_peer(stack):
    """An HA pair; the peer the relay asks first restarts. The other still holds the alert
    and the silence: nothing is expired, no later tier pages, and the restarted peer has
    the silence back. The resolve then ends the acknowledgement on both."""
    s = stack(cluster=True, resend_delay="4s", resend_window="7s")
    first, second = s.ams
    s.breach()
    s.push_to(s.primary)
    ack = s.acknowledge()
    seconds_until(lambda: active_ids(second) == [ack], 10, "the silence's gossip")
    first.restart()
    assert active_ids(first) == [ack]
    time.sleep(3 * STEP + 3)
    assert s.sent() == [("push", user_key(s.primary))]
    assert active_ids(first) == active_ids(second) == [ack]
    assert resolved_promptly(s) < 2


def test_a_pagerkit_ack_before_its_alert_fires_holds_until_the_incident_ends(stack):
    """Made ahead of a maintenance, before the alert fires: it outlives the resend window,
    keeps every tier quiet when the alert fires, ends when the alert resolves, and the next
    incident pages."""
    s = stack()
    assert main(["ack", "TestBreach", "--team", "platform", "--alertmanager", s.am.url,
                 "--root", str(s.tmp)]) == 0
    [ack] = active_ids(s.am)
    time.sleep(7)  # the Alertmanager has been up past the 5 s window: no alert is no alert
    assert active_ids(s.am) == [ack]
    s.breach()
    time.sleep(1 + STEP + 3)  # tier 1 and tier 2 are due by now
    assert s.sent() == []
    assert active_ids(s.am) == [ack]
    assert resolved_promptly(s) < 2
    # The first tier is not muted by the acknowledgement, so its resolve reaches the relay.
    # Breaching again only after it came: with this test's 1 s `for`, shorter than the
    # critical group_interval, a breach before that flush would be the same incident to
    # Alertmanager (production's min_critical_for is 2m).
    seconds_until(lambda: s.resolved_notifications() >= 1, 10, "the first tier's resolve")
    started = s.breach()
    assert s.push_to(s.primary, seconds=20) - started < 1 + 8


def test_a_re_breach_pages_its_first_tier_within_for(stack):
    """Page, acknowledge, resolve, breach again 5 s, 20 s and 40 s later: each new
    incident's push comes within its `for` plus the critical group_interval (5 s) and the
    scrape and evaluation (1 s each), even while the last incident's alert group lingers in
    Alertmanager; the resolved notification reached the relay each time."""
    for_ = 5
    s = stack(for_=f"{for_}s")
    s.breach()
    s.push_to(s.primary)
    latencies = []
    for count, delay in enumerate((5, 20, 40), start=2):
        s.acknowledge(count - 1)
        resolved = s.breach(0)
        time.sleep(max(0.0, resolved + delay - time.monotonic()))
        started = s.breach()
        latencies.append(round(s.push_to(s.primary, count, for_ + 20) - started, 1))
    assert all(latency < for_ + 5 + 2 + 1 for latency in latencies), latencies
    assert s.resolved_notifications() == 3
