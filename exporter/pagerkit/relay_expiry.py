"""The relay's own metrics, and the loop that ends acknowledgements when their alert
resolves."""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .ack import AlertmanagerDown, Alertmanagers, silence_labels

log = logging.getLogger("pagerkit.relay")
CHANNELS = ("push", "sms", "voice")
OUTCOMES = ("sent", "duplicate", "failed", "resolved", "refused")
PROVIDERS = ("twilio", "pushover", "chat")
ACK_WAYS = (("push", "link"), ("sms", "link"), ("chat", "link"), ("sms", "reply"),
            ("voice", "key_press"))


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "pagerkit_relay_notifications", "Pages received from Alertmanager, by channel and "
            "what became of them (sent, duplicate, failed, resolved, refused).",
            ["channel", "outcome"], registry=r)
        self.send_seconds = Histogram(
            "pagerkit_relay_send_duration_seconds", "Time the provider took to accept a page.",
            ["channel"], registry=r, buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10))
        self.provider_errors = Counter(
            "pagerkit_relay_provider_errors", "Requests to Twilio, Pushover or chat that "
            "failed; Alertmanager retries the page.", ["provider"], registry=r)
        self.acks = Counter(
            "pagerkit_relay_acknowledgements", "Acknowledgements, by the channel of the page "
            "and how (link, reply, key_press).", ["channel", "method"], registry=r)
        self.time_to_ack = Histogram(
            "pagerkit_relay_time_to_acknowledge_seconds", "From the first page (tier 1) of "
            "an alert to its acknowledgement.", registry=r,
            buckets=(30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200))
        self.expired = Counter(
            "pagerkit_relay_silences_expired", "Acknowledgements expired because their "
            "alert resolved.", registry=r)
        self.alertmanager_errors = Counter(
            "pagerkit_relay_alertmanager_errors", "Requests no Alertmanager answered.",
            registry=r)
        self.heartbeat = Gauge(
            "pagerkit_relay_last_heartbeat_timestamp_seconds", "When Alertmanager's "
            "Watchdog heartbeat last arrived; old means the alerting pipeline is broken.",
            registry=r)
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        """Every series a rule reads exists from the start, at 0: a counter that appears at
        1 with its first failure would show no increase, and the alert would miss it."""
        for channel in CHANNELS:
            for outcome in OUTCOMES:
                self.notifications.labels(channel, outcome)
            self.send_seconds.labels(channel)
        for provider in PROVIDERS:
            self.provider_errors.labels(provider)
        for channel, method in ACK_WAYS:
            self.acks.labels(channel, method)


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
