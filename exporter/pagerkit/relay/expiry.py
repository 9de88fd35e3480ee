"""The loop that ends acknowledgements when their alert resolves."""

from __future__ import annotations

import logging
import threading

from ..alertmanager import AlertmanagerDown, Alertmanagers, silence_labels
from .metrics import RelayMetrics

log = logging.getLogger("pagerkit.relay")


class Expiry:
    """Expires acknowledgements whose alert resolved, every ``expire_interval`` and when a
    resolved notification arrives. Stateless: it reads the silences from Alertmanager."""

    def __init__(self, am: Alertmanagers, metrics: RelayMetrics, interval: float) -> None:
        self.am, self.metrics, self.interval = am, metrics, interval
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

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """Expire what resolved; how many were expired."""
        am, expired = self.am, 0
        acks = am.acknowledgements()
        # One read of every alert per pass, matched here: a pass costs the same with one
        # acknowledgement or hundreds (one request per silence took 1.8 s at 200).
        firing = [a.get("labels", {}) for a in am.alerts({})] if acks else []
        for silence in acks:
            labels = silence_labels(silence)
            if labels and not any(labels.items() <= alert.items() for alert in firing):
                try:
                    am.expire(silence["id"])
                except AlertmanagerDown as exc:  # another relay expired it first
                    log.debug("silence %s not expired: %s", silence["id"], exc)
                    continue
                expired += 1
                self.metrics.expired.inc()
                log.info("%s resolved: its acknowledgement (silence %s) expired, the next "
                         "incident pages again", labels, silence["id"])
        return expired

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
