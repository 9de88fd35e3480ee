"""The loop that ends acknowledgements when their incident has ended, and only then.

"No matching alert" is not evidence of that: a freshly started Alertmanager holds no
alerts until Prometheus sends them again (every ``--rules.alert.resend-delay``, at an
evaluation), and an acknowledgement made with ``pagerkit ack`` before its alert fires has
no alert yet. An acknowledgement is expired when no answering Alertmanager holds a
matching alert and one of them gives positive evidence that the incident ended:

- it has been up longer than ``resend_window``, so Prometheus would have sent it the alert
  again were it still firing;
- it held the alert earlier, in this same run of it (its start time unchanged), so the
  alert's disappearance is Prometheus's resolve (or the alert's ``endsAt`` passing);
- a resolved notification for the alert group reached the relay.

And the acknowledgement covered an incident: its alert was seen while it held, or it was
made by the relay (a page's link, key press or SMS reply is only ever the answer to a page).
A ``pagerkit ack`` whose alert this relay has not yet seen stays until its own end.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..alertmanager import AlertmanagerDown, Alertmanagers, ack_comment, silence_labels
from .metrics import RelayMetrics

log = logging.getLogger("pagerkit.relay")

Labels = dict[str, str]


@dataclass(frozen=True)
class PeerView:
    """One Alertmanager's answer in one pass: which run of it (its start time, as it says
    it), how long it has been up by the relay's clock, and the labels of its alerts."""

    url: str
    started: str
    up_seconds: float
    alerts: tuple[Labels, ...]

    def holds(self, labels: Mapping[str, str]) -> bool:
        return any(labels.items() <= alert.items() for alert in self.alerts)


def made_at_terminal(silence: Mapping[str, Any]) -> bool:
    """Whether ``pagerkit ack`` made the silence: only that way can it come before its
    alert."""
    own = ack_comment(str(silence.get("createdBy", "")), "terminal")
    comment = str(silence.get("comment", ""))
    return comment == own or comment.startswith(own + ": ")


def peer_view(peer: Alertmanagers, now: float) -> PeerView:
    """What one Alertmanager says; ``AlertmanagerDown`` if it does not answer."""
    status = peer.call("get", "/api/v2/status")
    started = str(status.get("uptime", ""))
    since = dt.datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    alerts = tuple(dict(a.get("labels", {})) for a in peer.alerts({}))
    return PeerView(peer.urls[0], started, max(0.0, now - since), alerts)


class Expiry:
    """Expires acknowledgements whose incident ended, every ``expire_interval`` and when a
    resolved notification arrives. What it remembers (which Alertmanager run held which
    acknowledgement's alert) only makes it prompter: after a relay restart it falls back on
    Alertmanager's uptime."""

    def __init__(self, am: Alertmanagers, metrics: RelayMetrics, interval: float,
                 resend_window: float = 150.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.am, self.metrics, self.interval = am, metrics, interval
        self.resend_window, self.clock = resend_window, clock
        self.peers = tuple(Alertmanagers((url,), am.timeout) for url in am.urls)
        self._held_in: dict[str, set[tuple[str, str]]] = {}
        """Silence id -> the (url, start) of every Alertmanager run that held its alert."""
        self._ended: list[Labels] = []
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._down = False
        self._thread = threading.Thread(target=self._run, name="expiry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self, resolved: Mapping[str, str] | None = None) -> None:
        """Run a pass now; ``resolved``: the labels of a group whose resolved notification
        arrived, evidence that its incident ended."""
        if resolved:
            with self._lock:
                self._ended.append(dict(resolved))
        self._wake.set()

    def views(self) -> list[PeerView]:
        """Every answering Alertmanager's view; ``AlertmanagerDown`` if none answers."""
        out, errors = [], []
        for peer in self.peers:
            try:
                out.append(peer_view(peer, self.clock()))
            except AlertmanagerDown as exc:
                errors.append(str(exc))
        if not out:
            raise AlertmanagerDown("; ".join(errors) or "no Alertmanager configured")
        return out

    def run_once(self) -> int:
        """Expire the acknowledgements whose incident ended; how many were expired."""
        with self._lock:
            ended, self._ended = self._ended, []
        acks = self.am.acknowledgements()
        live = {str(s["id"]) for s in acks}
        self._forget(live)
        if not acks:
            return 0
        # One read of every alert per Alertmanager and pass, matched here: a pass costs
        # the same with one acknowledgement or hundreds.
        views = self.views()
        expired = 0
        for silence in acks:
            labels = silence_labels(silence)
            if labels and self.incident_ended(silence, labels, views, ended):
                expired += self._expire(silence, labels)
        return expired

    def incident_ended(self, silence: Mapping[str, Any], labels: Labels,
                       views: list[PeerView], ended: list[Labels]) -> bool:
        """Whether ``silence`` (on ``labels``) acknowledged an incident that has ended, by
        ``views`` and the groups whose resolved notification arrived (``ended``); notes
        which Alertmanager runs hold its alert."""
        sid = str(silence["id"])
        holding = {(v.url, v.started) for v in views if v.holds(labels)}
        if holding:
            self._held_in.setdefault(sid, set()).update(holding)
            return False
        if any(labels.items() <= e.items() for e in ended):
            return True
        if sid not in self._held_in and made_at_terminal(silence):
            return False  # made ahead of its alert: nothing has ended yet
        known = self._held_in.get(sid, set())
        if any(v.up_seconds >= self.resend_window or (v.url, v.started) in known
               for v in views):
            return True
        if sid not in self._waiting:
            self._waiting.add(sid)
            log.info("%s is in no Alertmanager, but each started less than %ss ago and may "
                     "not have it yet: its acknowledgement (silence %s) holds until one has "
                     "been up that long", labels, f"{self.resend_window:g}", sid)
        return False

    def _expire(self, silence: Mapping[str, Any], labels: Labels) -> int:
        try:
            self.am.expire(silence["id"])
        except AlertmanagerDown as exc:  # another relay expired it first
            log.debug("silence %s not expired: %s", silence["id"], exc)
            return 0
        self.metrics.expired.inc()
        log.info("%s resolved: its acknowledgement (silence %s) expired, the next incident "
                 "pages again", labels, silence["id"])
        return 1

    def _forget(self, live: set[str]) -> None:
        for sid in set(self._held_in) - live:
            del self._held_in[sid]
        self._waiting &= live

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                if self._down:
                    log.info("Alertmanager answers again")
                self._down = False
            except AlertmanagerDown as exc:
                self.metrics.alertmanager_errors.inc()
                if not self._down:
                    log.warning("cannot expire acknowledgements: %s", exc)
                self._down = True
            self._wake.wait(self.interval)
            self._wake.clear()
