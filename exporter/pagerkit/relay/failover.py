"""A page through its channel's providers in the order routing.yaml gives, within one budget.

Alertmanager gives a notification 10 s (``config.ALERTMANAGER_NOTIFY_TIMEOUT``) and retries
it only after the relay answered 5xx, by then often minutes later. So a page that the first
provider refuses or cannot take (a 5xx, a refused connection, a timeout) goes out through
the next one within the same webhook, and the relay answers 502 only when every provider
failed. Each provider gets an equal share of what is left of ``failover_budget`` (so a
hanging first provider leaves the second its time), and inside that share up to
``provider_attempts`` tries when the error says nothing was sent.

A provider's request runs on its own thread and is given up at the end of its share
whatever the network does (a response that drips is still cut off). A provider that took
the page after it was given up may deliver it a second time: a page twice beats none, and
the log says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..secrets import Secret
from .config import RelayConfig
from .metrics import RelayMetrics
from .providers import ProviderError, PushoverSender, TwilioSender
from .texts import Notification, summary

log = logging.getLogger("pagerkit.relay")

RETRY_PAUSE = 0.2
"""Between two tries at one provider: a 5xx from a load balancer often clears at once."""


@dataclass(frozen=True)
class Page:
    """What one page says, in each provider's terms: ``text`` is the SMS, or the words a
    call speaks (Vonage); ``twiml`` is the same call for Twilio."""

    channel: str
    to: str = ""
    text: str = ""
    twiml: str = ""
    user_key: Secret | None = None
    fields: dict[str, str] = field(default_factory=dict)


def voice_page(n: Notification, phone: str, twiml: str) -> Page:
    """A call: Twilio's asks to press 1; a provider without the relay's key-press callback
    speaks the summary and points to the link sent by SMS or push."""
    spoken = (f"This is pagerkit, paging team {n.team}. {summary(n)} To acknowledge, open "
              "the link in your text message or push notification.")
    return Page("voice", phone, spoken, twiml)


@dataclass(frozen=True)
class Delivery:
    """Which provider took the page (its reference), and which failed before it."""

    provider: str
    ref: str
    failed: tuple[str, ...] = ()

    def __str__(self) -> str:
        after = f" after {', '.join(self.failed)} failed" if self.failed else ""
        return f"{self.ref} via {self.provider}{after}"


class AllProvidersFailed(ProviderError):
    """Every provider of the channel failed: the relay answers 502 and Alertmanager
    retries. ``errors`` are each provider's last error, in order."""

    def __init__(self, channel: str, errors: list[ProviderError]) -> None:
        Exception.__init__(self, f"every {channel} provider failed: "
                                 + "; ".join(str(e) for e in errors))
        self.provider = errors[-1].provider if errors else "none"
        self.retry = False
        self.errors = errors


Send = Callable[[Page], str]


class Failover:
    def __init__(self, order: dict[str, tuple[str, ...]], senders: dict[str, Send],
                 metrics: RelayMetrics, budget: float, attempts: int,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.order, self.senders, self.metrics = order, senders, metrics
        self.budget, self.attempts, self.clock, self.sleep = budget, attempts, clock, sleep

    def deliver(self, page: Page) -> Delivery:
        """Send ``page`` through the first provider of its channel that takes it; counts
        every failed try in ``provider_errors``, the delivery and any failover.
        Raises ``AllProvidersFailed`` when none took it within the budget."""
        order = self.order[page.channel]
        deadline = self.clock() + self.budget
        errors: list[ProviderError] = []
        for i, provider in enumerate(order):
            share_end = self.clock() + (deadline - self.clock()) / (len(order) - i)
            try:
                ref = self._tries(provider, page, share_end)
            except ProviderError as exc:
                errors.append(exc)
                continue
            self.metrics.deliveries.labels(page.channel, provider).inc()
            if i > 0:
                self.metrics.failovers.labels(page.channel, order[0], provider).inc()
            return Delivery(provider, ref, tuple(e.provider for e in errors))
        raise AllProvidersFailed(page.channel, errors)

    def _tries(self, provider: str, page: Page, share_end: float) -> str:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._within(provider, page, share_end - self.clock())
            except ProviderError as exc:
                self.metrics.provider_errors.labels(provider).inc()
                log.warning("%s page by %s, try %d: %s", page.channel, provider, attempt, exc)
                if not exc.retry or attempt == self.attempts or \
                        share_end - self.clock() <= RETRY_PAUSE:
                    raise
            self.sleep(RETRY_PAUSE)
        raise AssertionError("unreachable: the last try raises or returns")

    def _within(self, provider: str, page: Page, seconds: float) -> str:
        """The provider's answer, or a ``ProviderError`` after ``seconds``; the request's
        thread is left to end on its own (the client's timeout ends it)."""
        send = self.senders.get(provider)
        if send is None:
            raise ProviderError(provider, f"not configured in the relay for {page.channel}")
        if seconds <= 0:
            raise ProviderError(provider, "no time left in the failover budget")
        result: list[str | ProviderError] = []
        given_up = threading.Event()

        def run() -> None:
            try:
                result.append(send(page))
            except ProviderError as exc:
                result.append(exc)
            if given_up.is_set() and result and isinstance(result[0], str):
                log.warning("%s took a %s page after it was given up: it may arrive twice",
                            provider, page.channel)

        worker = threading.Thread(target=run, name=f"page-{provider}", daemon=True)
        worker.start()
        worker.join(seconds)
        if not result:
            given_up.set()
            raise ProviderError(provider, f"no answer within {seconds:.1f}s")
        if isinstance(result[0], ProviderError):
            raise result[0]
        return result[0]


def failover_for(config: RelayConfig, metrics: RelayMetrics, twilio: TwilioSender | None,
                 pushover: PushoverSender | None) -> Failover:
    """The relay's failover over the providers its config sets up."""
    senders: dict[str, Send] = {}
    if twilio is not None:
        senders["twilio"] = lambda p: twilio.sms(p.to, p.text) if p.channel == "sms" \
            else twilio.call(p.to, p.twiml)
    if pushover is not None:
        senders["pushover"] = lambda p: pushover.push(_user_key(p), p.fields)
    if config.vonage is not None:
        from .vonage import VonageSender

        vonage = VonageSender(config.vonage, config.provider_timeout)
        senders["vonage"] = lambda p: vonage.sms(p.to, p.text) if p.channel == "sms" \
            else vonage.call(p.to, p.text)
    return Failover(config.routing.providers, senders, metrics, config.failover_budget,
                    config.provider_attempts)


def _user_key(page: Page) -> Secret:
    assert page.user_key is not None  # push pages carry the member's key
    return page.user_key
