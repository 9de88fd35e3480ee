"""Live, highly available: two Alertmanager peers in a cluster on loopback, a relay beside
each (their own processes, SIGKILLed at will), the Twilio and Pushover stand-in, and real
Prometheus for the heartbeat. A dead relay costs one peer timeout, never the page, and a
second page only when it died with the page in flight; an acknowledgement through either
relay stops both peers; the relays page the person on call themselves when the Watchdog
stops, once, and say "restored" once.

Timings: peer timeout 1s, the critical routes' 5s group_interval, the Watchdog every 1-2s,
a heartbeat deadline of 8s (the relays start before Prometheus, and its first Watchdog
reaches them 3-5s later). The file takes about two and a half minutes.
"""

from __future__ import annotations

import os
import random
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.harness.ha import HaSet, RelayProcess, incident
from tests.harness.paging import Target
from tests.harness.provider_standin import Sent

pytestmark = pytest.mark.integration

PEER_TIMEOUT = 1.0
GROUP_INTERVAL = 5.0  # the critical routes' (oncall/amconfig.py CRITICAL_TIMING)
INCIDENTS = int(os.environ.get("PAGERKIT_HA_INCIDENTS", "20"))
IN_FLIGHT = 0.25
"""How near its relay's SIGKILL a page may reach the provider and still come again: from
the provider's taking a page to the peer relay's holding it as sent takes 4 ms (median;
12 ms at the 99th percentile, 24 ms at most, over 3,000 pages of this test on loopback),
and every duplicate seen came from a kill under 6 ms after the first copy. A quarter
second leaves room for a loaded machine and is still far less than the 1.2 s over which
the kill moment varies. Either side of the kill: a request that left the relay just
before it may reach the stand-in just after."""


@pytest.fixture
def ha(tmp_path):
    made: list[HaSet] = []

    def make(**kwargs) -> HaSet:  # type: ignore[no-untyped-def]
        made.append(HaSet(tmp_path / str(len(made)), **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def pushes(s: HaSet, name: str) -> list[str]:
    """The acknowledgement links of the pushes for incident ``name``'s first tier."""
    return [p.fields["url"] for p in s.provider.of("push", s.push_key)
            if p.fields["title"].startswith(f"{name} ")]


def texts(s: HaSet, name: str) -> list[str]:
    return [p.fields["Body"] for p in s.provider.of("sms", s.phone) if f": {name} tier" in
            p.fields["Body"]]


def wait_until(check, seconds: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``check()`` held; fails after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {seconds}s")


def test_a_dead_relay_costs_one_peer_timeout_not_the_page(ha):
    """SIGKILL the relay of the peer that sends first: the page comes through the other
    peer's relay, once, within the peer timeout plus one flush; the live relay reports its
    peer down in the chat and in its metrics."""
    s = ha()
    first = s.first()
    s.relays[first].kill()
    s.fire([incident("Outage", "1")])
    took = wait_until(lambda: pushes(s, "Outage"), 30, "the push")
    assert took < PEER_TIMEOUT + GROUP_INTERVAL
    time.sleep(GROUP_INTERVAL + 2 * PEER_TIMEOUT)  # a second page would have come by now
    links = pushes(s, "Outage")
    assert len(links) == 1
    live = s.relays[1 - first]
    assert links[0].startswith(live.url + "/a/")
    assert live.metric("pagerkit_relay_notifications_total", channel="push",
                       outcome="sent") == 1
    assert live.metric("pagerkit_relay_peer_up", peer=s.relays[first].url) == 0
    wait_until(lambda: any("has not answered" in r.body.get("text", "")
                           for r in s.chat.received), 10, "the chat's report")


def test_random_kills_lose_no_page_and_page_twice_only_what_was_in_flight(ha):
    """Incident after incident (tier 1 by push, tier 2 by SMS), a random relay is
    SIGKILLed at a random moment around the firing and started again after: every tier of
    every incident reaches the person, once, or twice when the relay that sent the first
    copy was killed within ``IN_FLIGHT`` of the provider's taking it. Exactly once cannot be
    had there: the provider took the page but the relay died before it told its peer, and
    Pushover and Twilio take no idempotency key, so the relay that sends Alertmanager's
    retry (the peer, or the killed one started again) cannot tell that page from one that
    never left, and sends it rather than risk losing it. Any other second copy fails."""
    s = ha()
    rng = random.Random(int(os.environ.get("PAGERKIT_HA_SEED", "7")))
    names = [f"Incident{i}" for i in range(INCIDENTS)]
    kills: list[tuple[float, str]] = []  # (time.monotonic() as in Sent.at, the relay's URL)

    def kill(relay: RelayProcess) -> None:
        kills.append((time.monotonic(), relay.url))
        relay.kill()

    for name in names:
        victim = s.relays[rng.randrange(2)]
        alerts = [incident(name, "1"), incident(name, "2")]
        killer = threading.Timer(rng.uniform(0, 1.2), kill, (victim,))
        killer.start()
        s.fire(alerts)
        killer.join()
        wait_until(lambda n=name: pushes(s, n) and texts(s, n), 30, f"{name}'s pages")
        victim.start()
        s.resolve(alerts)
    time.sleep(GROUP_INTERVAL + 3 * PEER_TIMEOUT)
    unexplained = []
    for n in names:
        for tier in (1, 2):
            found = sorted(copies(s, n, tier), key=lambda p: p.at)
            assert found, f"{n} tier {tier} never reached the person"
            first, *again = found
            by = sender(s, first)
            in_flight = any(url == by and abs(at - first.at) <= IN_FLIGHT for at, url in kills)
            if again and not (len(again) == 1 and in_flight):
                unexplained.append((n, tier, [(round(p.at, 3), sender(s, p))
                                              for p in (first, *again)]))
    assert unexplained == [], f"kills: {[(round(at, 3), url) for at, url in kills]}"


def copies(s: HaSet, name: str, tier: int) -> list[Sent]:
    """The pages of incident ``name``'s ``tier`` the person got: the push of tier 1, the
    SMS of tier 2."""
    if tier == 1:
        return [p for p in s.provider.of("push", s.push_key)
                if p.fields["title"].startswith(f"{name} ")]
    return [p for p in s.provider.of("sms", s.phone) if f": {name} tier" in p.fields["Body"]]


def sender(s: HaSet, page: Sent) -> str | None:
    """The relay that sent ``page``: each signs links with its own URL."""
    text = page.fields.get("url") or page.fields.get("Body", "")
    return next((r.url for r in s.relays if f"{r.url}/a/" in text), None)


def test_an_acknowledgement_through_the_other_relay_stops_both_peers(ha):
    """The push came through one relay; its link opened on the other relay acknowledges:
    the silence reaches both peers, the second tier pages nobody, and when the incident
    resolves both relays expire it at once without harm: the next incident pages."""
    s = ha()
    s.fire([incident("Breach", "1")])
    wait_until(lambda: pushes(s, "Breach"), 15, "the push")
    link = pushes(s, "Breach")[0]
    sender = next(r for r in s.relays if link.startswith(r.url))
    other = next(r for r in s.relays if r is not sender)
    answer = requests.post(other.url + urlsplit(link).path, data={"for": "30m"}, timeout=10)
    assert answer.status_code == 200, answer.text
    for am in s.alertmanagers:  # gossip takes a moment; the next tier comes minutes later
        wait_until(lambda am=am: acknowledgements(am.url), 5, f"the silence in {am.url}")
    s.fire([incident("Breach", "1"), incident("Breach", "2")])
    for am in s.alertmanagers:
        wait_until(lambda am=am: suppressed(am.url, "Breach", "2"), 10,
                   f"the silence in {am.url}")
    time.sleep(GROUP_INTERVAL + 2 * PEER_TIMEOUT)
    assert texts(s, "Breach") == []
    s.resolve([incident("Breach", "1"), incident("Breach", "2")])
    for am in s.alertmanagers:
        wait_until(lambda am=am: not acknowledgements(am.url), 15, "the expiry")
    time.sleep(GROUP_INTERVAL + 1)  # the resolve goes out first, as Prometheus's `for` ensures
    s.fire([incident("Breach", "1")])
    wait_until(lambda: len(pushes(s, "Breach")) == 2, 15, "the next incident's push")
    assert sum(r.metric("pagerkit_relay_silences_expired_total") for r in s.relays) >= 1


def test_the_relays_page_when_prometheus_dies_and_say_restored_once(ha):
    """Quiet for three heartbeat deadlines: nothing. Prometheus killed: the member on call
    gets "the alerting pipeline is down" by SMS and push, from one relay, once, with the
    Watchdog's playbook; Prometheus back: one "restored"."""
    target = Target()
    try:
        s = ha(target=target.address)
        s.wait_for_heartbeat()
        time.sleep(24)
        assert s.pipeline_messages() == [] and s.pipeline_messages("push") == []
        assert [r.metric("pagerkit_relay_pipeline_down") for r in s.relays] == [0, 0]
        assert s.prometheus is not None
        s.prometheus.proc.kill()
        # Alertmanager holds the Watchdog 4s more (4 resend delays), then the deadline
        took = wait_until(lambda: s.pipeline_messages(), 25, "the pipeline-down SMS")
        assert took > 8
        time.sleep(10)  # a second message would come within a tick or a deadline
        [down] = s.pipeline_messages()
        assert "the alerting pipeline is down: no heartbeat from Alertmanager since" in down
        assert down.endswith("Playbook: http://localhost:9630/playbooks/monitoring.md#watchdog")
        assert len(s.pipeline_messages("push")) == 1
        assert [r.metric("pagerkit_relay_pipeline_down") for r in s.relays] == [1, 1]
        s.prometheus.stop()
        s.prometheus = s.start_prometheus(target.address)
        wait_until(lambda: len(s.pipeline_messages()) == 2, 25, "the restored SMS")
        time.sleep(4)
        assert "alerting restored" in s.pipeline_messages()[1]
        assert len(s.pipeline_messages()) == 2 and len(s.pipeline_messages("push")) == 2
        said = [r.body["text"] for r in s.chat.received if "pipeline" in r.body.get("text", "")
                or "restored" in r.body.get("text", "")]
        assert len(said) == 2, said
    finally:
        target.close()


def test_the_relays_page_when_both_alertmanagers_stop(ha):
    """Both peers stopped: one pipeline-down message; both back: one "restored"."""
    target = Target()
    try:
        s = ha(target=target.address)
        s.wait_for_heartbeat()
        time.sleep(2)
        for am in s.alertmanagers:
            am.stop(remove=False)
        took = wait_until(lambda: s.pipeline_messages(), 20, "the pipeline-down SMS")
        assert took > 6  # the deadline (8s) from the last heartbeat, at most 2s before
        time.sleep(3)
        [down] = s.pipeline_messages()
        assert down.endswith("Playbook: http://localhost:9630/playbooks/monitoring.md#watchdog")
        for am in s.alertmanagers:
            am.start()
        wait_until(lambda: len(s.pipeline_messages()) == 2, 30, "the restored SMS")
        assert "alerting restored" in s.pipeline_messages()[1]
    finally:
        target.close()


def suppressed(url: str, alertname: str, tier: str) -> bool:
    alerts = requests.get(f"{url}/api/v2/alerts", timeout=5,
                          params={"filter": [f'alertname="{alertname}"', f'tier="{tier}"']}
                          ).json()
    return bool(alerts) and all(a["status"]["silencedBy"] for a in alerts)


def acknowledgements(url: str) -> list[str]:
    return [s["id"] for s in requests.get(f"{url}/api/v2/silences", timeout=5).json()
            if s["status"]["state"] == "active"]
