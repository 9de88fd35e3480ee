"""The relay's own metrics, served on its ``/metrics``: pages by channel and outcome,
provider errors, acknowledgements, silences expired, the Watchdog's heartbeat."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
