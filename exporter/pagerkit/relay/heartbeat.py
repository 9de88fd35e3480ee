"""The dead man's switch: the relay pages the people on call itself when the Watchdog's
heartbeat stops, and watches its peer relays.

Alertmanager sends the always-firing Watchdog to ``/heartbeat`` every repeat interval. When
Prometheus or Alertmanager dies, or the way between them, the heartbeat stops, and no alert
can page anyone: only the relay can. In an HA set only one Alertmanager peer delivers each
notification, the Watchdog's included, so one relay may hear nothing while its peer hears
every beat: the relays share the last heartbeat they heard (``peers``), and the pipeline is
down only when no relay of the set heard one for ``heartbeat_deadline``.

Then the live relay with the lowest name pages each team's primary on call straight
through the provider (SMS and push, bypassing Alertmanager), and says so in the chat;
once, and once more ("alerting restored") when a heartbeat comes again. A relay whose
peer stops answering for ``peer_down_after`` says so in the chat, and again when it is back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import requests

from ..oncall.who import who
from .config import RelayConfig
from .metrics import RelayMetrics
from .peers import Peers, PeerState
from .providers import ProviderError, PushoverSender, TwilioSender
from .texts import slack_escaped, web_url

log = logging.getLogger("pagerkit.relay")

Announce = Callable[[str, str], None]


def playbook_of(body: bytes) -> str | None:
    """The Watchdog's ``runbook_url`` in a heartbeat, if it is a web address: the playbook
    the pipeline-down page links to."""
    try:
        data = json.loads(body)
        url = data["alerts"][0]["annotations"]["runbook_url"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return web_url(url) if isinstance(url, str) else None


def down_text(since: float, zone: str, playbook: str | None) -> str:
    """``the alerting pipeline is down: no heartbeat from Alertmanager since 03:12 CET``, in
    the member's own time zone."""
    at = dt.datetime.fromtimestamp(since, ZoneInfo(zone))
    book = f"\nPlaybook: {playbook}" if playbook else ""
    return (f"PAGE pagerkit: the alerting pipeline is down: no heartbeat from Alertmanager "
            f"since {at:%H:%M %Z}. No alert can page you until it is fixed.{book}")


def restored_text(at: float, zone: str) -> str:
    local = dt.datetime.fromtimestamp(at, ZoneInfo(zone))
    return (f"pagerkit: alerting restored: the heartbeat from Alertmanager arrives again "
            f"(since {local:%H:%M %Z}). Alerts page as before.")


class PipelineWatch:
    """The heartbeat this relay heard, its peers' view, and the decision: every
    ``peer_interval``, in its own thread (``start``, ``stop``)."""

    def __init__(self, config: RelayConfig, peers: Peers, metrics: RelayMetrics,
                 twilio: TwilioSender | None, pushover: PushoverSender | None,
                 announce: Announce, clock: Callable[[], float] = time.time) -> None:
        self.config, self.peering, self.peers = config, config.peering, peers
        self.metrics, self.twilio, self.pushover = metrics, twilio, pushover
        self.announce, self.clock = announce, clock
        self.started = clock()
        self.heard_at: float | None = None
        self.playbook: str | None = None
        self.alarm = False
        """Whether this relay told people the pipeline is down (and owes them "restored")."""
        self._reported: set[str] = set()
        self._said: str | None = None
        """The alarm last said in the chat: a provider outage retries the page, not the chat."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._pinging = threading.Lock()
        self._ping_failed = False
        metrics.info.labels(self.peering.name).set(1)
        metrics.heartbeat_age.set_function(lambda: self.clock() - self.last_heartbeat())

    # --- what comes in -------------------------------------------------------------------

    def heard(self, playbook: str | None) -> None:
        """Alertmanager's Watchdog arrived here; the external switch is told at once."""
        with self._lock:
            self.heard_at = self.clock()
            self.playbook = playbook or self.playbook
        self.metrics.heartbeat.set(self.heard_at)
        if self.peering.heartbeat_url is not None:
            threading.Thread(target=self._ping, name="heartbeat-url", daemon=True).start()

    def state(self) -> dict[str, Any]:
        """What the peers poll: this relay's name, heartbeat and alarm."""
        with self._lock:
            return {"name": self.peering.name, "heartbeat": self.heard_at,
                    "alarm": self.alarm, "playbook": self.playbook}

    def last_heartbeat(self) -> float:
        """The last heartbeat any relay of the set heard; this relay's start if none did, so
        that a relay started while the pipeline is down reports it a deadline later."""
        beats = [self.heard_at, *(p.heartbeat for p in self.peers.states())]
        return max([b for b in beats if b is not None], default=self.started)

    # --- the decision --------------------------------------------------------------------

    def tick(self) -> None:
        """Poll the peers, report the ones that stopped answering, and page or restore."""
        states = self.peers.poll()
        self._report_peers(states)
        last = self.last_heartbeat()
        now = self.clock()
        down = now - last > self.peering.heartbeat_deadline
        self.metrics.pipeline_down.set(1 if down else 0)
        live = [p for p in states if p.up]
        if down and not self.alarm and not any(p.alarm for p in live) and \
                all((p.name or "") > self.peering.name for p in live):
            if self._tell_people("down", last):
                with self._lock:
                    self.alarm = True
        elif not down and self.alarm and self._tell_people("restored", last):
            with self._lock:
                self.alarm = False

    def _tell_people(self, alarm: str, at: float) -> bool:
        """Each team's primary on call, by SMS and push, and the teams' chat; True if
        someone was reached (else the next tick tries again)."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        book = self.playbook or next((p.playbook for p in self.peers.states()
                                      if p.playbook), None)
        reached: list[str] = []
        for team in self.config.routing.teams:
            member, _ = who(team, now)
            if member is None:
                continue
            zone = team.member(member).timezone
            text = down_text(at, zone, book) if alarm == "down" else restored_text(at, zone)
            for channel in ("sms", "push"):
                if channel in team.member(member).channels and \
                        self._send(member, channel, text, book):
                    reached.append(f"{member} by {channel}")
        when = dt.datetime.fromtimestamp(at, dt.UTC)
        paged = f" Paged {', '.join(reached)}." if reached else " Nobody could be paged."
        for team in self.config.routing.teams if self._said != alarm else ():
            self.announce(team.name, slack_escaped(
                (f"The alerting pipeline is down: no heartbeat from Alertmanager since "
                 f"{when:%H:%M} UTC (relay {self.peering.name}).{paged}"
                 + (f" Playbook: {book}" if book else "")) if alarm == "down" else
                f"Alerting restored: the heartbeat from Alertmanager arrives again "
                f"(relay {self.peering.name}).{paged}"))
        self._said = alarm
        if reached:
            self.metrics.pipeline_alarms.labels(alarm).inc()
            log.warning("the alerting pipeline is %s; told %s", alarm, ", ".join(reached))
        else:
            log.error("the alerting pipeline is %s and nobody could be paged", alarm)
        return bool(reached) or not any(who(t, now)[0] for t in self.config.routing.teams)

    def _send(self, member: str, channel: str, text: str, book: str | None) -> bool:
        contact = self.config.contacts.get(member)
        try:
            if contact is None:
                return False
            if channel == "sms" and self.twilio is not None and contact.phone:
                self.twilio.sms(contact.phone, text[:self.config.sms_max_chars])
                return True
            if channel == "push" and self.pushover is not None and contact.pushover_user_key:
                first, _, rest = text.partition(": ")
                self.pushover.push(contact.pushover_user_key, {
                    "title": "Alerting pipeline" if first.startswith("PAGE") else "pagerkit",
                    "message": rest[:1024], "priority": "1",
                    **({"url": book, "url_title": "Playbook"} if book else {})})
                return True
        except ProviderError as exc:
            self.metrics.provider_errors.labels(exc.provider).inc()
            log.warning("pipeline message to %s by %s failed: %s", member, channel, exc)
        return False

    def _report_peers(self, states: list[PeerState]) -> None:
        """A peer silent for ``peer_down_after`` is said in the chat once; and once when it
        answers again."""
        now = self.clock()
        for peer in states:
            who_ = f"relay {peer.name or peer.url}"
            silent = now - (peer.seen_at or self.started)
            if not peer.up and silent > self.peering.down_after and peer.url not in \
                    self._reported:
                self._reported.add(peer.url)
                since = dt.datetime.fromtimestamp(peer.seen_at or self.started, dt.UTC)
                log.warning("%s has not answered since %s", who_, since)
                self._say_everywhere(
                    f"{who_} ({peer.url}) has not answered relay {self.peering.name} since "
                    f"{since:%H:%M} UTC: the Alertmanager beside it pages through a dead "
                    "relay (each page waits a peer timeout), and it no longer backs this "
                    "one up.")
            elif peer.up and peer.url in self._reported:
                self._reported.discard(peer.url)
                log.info("%s answers again", who_)
                self._say_everywhere(f"{who_} ({peer.url}) answers relay "
                                     f"{self.peering.name} again.")

    def _say_everywhere(self, text: str) -> None:
        for team in self.config.routing.teams:
            self.announce(team.name, slack_escaped(text))

    def _ping(self) -> None:
        """Calls the external dead man's switch; its URL is a secret, so a failure is
        logged by kind only, once per change."""
        url = self.peering.heartbeat_url
        if url is None or not self._pinging.acquire(blocking=False):
            return
        try:
            failed = None
            try:
                response = requests.get(url.reveal(), timeout=self.peering.timeout * 5)
                if response.status_code >= 300:
                    failed = f"HTTP {response.status_code}"
            except requests.exceptions.RequestException as exc:
                failed = type(exc).__name__
            if failed and not self._ping_failed:
                log.warning("the external heartbeat URL (heartbeat_url_file) failed: %s",
                            failed)
            elif not failed and self._ping_failed:
                log.info("the external heartbeat URL answers again")
            self._ping_failed = failed is not None
        finally:
            self._pinging.release()

    # --- the thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.peering.interval):
            try:
                self.tick()
            except Exception:  # a bug here must not end the dead man's switch
                log.exception("the heartbeat watch failed; trying again")
