"""The relay's own metrics, served on its ``/metrics``: pages by channel and outcome,
the provider that delivered each and the failovers between providers,
provider errors, acknowledgements, silences expired, the Watchdog's heartbeat; and, for an
HA set of relays, the peers seen, the heartbeat's age across the set and the pipeline's
state."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CHANNELS = ("push", "sms", "voice")
OUTCOMES = ("sent", "duplicate", "acknowledged", "failed", "resolved", "refused", "peer_sent")
PROVIDERS = ("twilio", "pushover", "chat", "vonage")
CHANNEL_PROVIDERS = {"push": ("pushover",), "sms": ("twilio", "vonage"),
                     "voice": ("twilio", "vonage")}
"""The providers each channel can go through (routing.yaml's ``providers``)."""
ACK_WAYS = (("push", "link"), ("sms", "link"), ("chat", "link"), ("sms", "reply"),
            ("voice", "key_press"))


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "pagerkit_relay_notifications", "Pages received from Alertmanager, by channel and "
            "what became of them (sent, duplicate, acknowledged, failed, resolved, refused; "
            "peer_sent: another relay of the set had sent it).",
            ["channel", "outcome"], registry=r)
        self.send_seconds = Histogram(
            "pagerkit_relay_send_duration_seconds", "Time the provider took to accept a page.",
            ["channel"], registry=r, buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10))
        self.provider_errors = Counter(
            "pagerkit_relay_provider_errors", "Requests to Twilio, Pushover or chat that "
            "failed; Alertmanager retries the page.", ["provider"], registry=r)
        self.deliveries = Counter(
            "pagerkit_relay_deliveries", "Pages a provider took, by channel and provider: "
            "with a failover, which provider delivered.", ["channel", "provider"], registry=r)
        self.failovers = Counter(
            "pagerkit_relay_failovers", "Pages the channel's first provider (from_provider) "
            "failed and a later one (to_provider) delivered; the first provider is failing: "
            "see its status page.", ["channel", "from_provider", "to_provider"], registry=r)
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
        self.info = Gauge(
            "pagerkit_relay_info", "Always 1; name is this relay's name among its peers, which "
            "tells the relay behind each instance.", ["name"], registry=r)
        self.peer_up = Gauge(
            "pagerkit_relay_peer_up", "Whether the peer relay answered this relay's last poll; "
            "0 for peer_down_after means the Alertmanager beside it pages through a dead "
            "relay.", ["peer"], registry=r)
        self.heartbeat_age = Gauge(
            "pagerkit_relay_heartbeat_age_seconds", "Seconds since any relay of the set last "
            "heard the Watchdog (since this relay started if none did); over "
            "heartbeat_deadline the relay pages that the alerting pipeline is down.",
            registry=r)
        self.pipeline_down = Gauge(
            "pagerkit_relay_pipeline_down", "1 while no relay of the set has heard the "
            "Watchdog for heartbeat_deadline: Prometheus or Alertmanager cannot page.",
            registry=r)
        self.pipeline_alarms = Counter(
            "pagerkit_relay_pipeline_alarms", "Pipeline-down and restored messages this relay "
            "delivered to the people on call.", ["alarm"], registry=r)
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
        for channel, providers in CHANNEL_PROVIDERS.items():
            for provider in providers:
                self.deliveries.labels(channel, provider)
                for other in providers:
                    if other != provider:
                        self.failovers.labels(channel, provider, other)
        for channel, method in ACK_WAYS:
            self.acks.labels(channel, method)
        for alarm in ("down", "restored"):
            self.pipeline_alarms.labels(alarm)
