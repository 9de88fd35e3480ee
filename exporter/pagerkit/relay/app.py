"""``pagerkit relay``: Alertmanager's pages out as pushes, SMS and calls; acknowledgements in.

Alertmanager posts each page to ``/page/<team>/<member>/<channel>``. The relay sends it
once per group, tier and member (retries and an HA pair's copies are recognised) with a
signed link to ``/a/<token>``, where a POST acknowledges. A key press (``/twilio/voice``)
and an SMS reply (``/twilio/sms``) acknowledge too, when Twilio's signature is valid
(``acks``). HEAD answers as GET does, without the body.

Every acknowledgement is an Alertmanager silence; a background loop (``expiry``) expires
those whose alert resolved. The relay's own memory (``memory``) only holds the duplicate
filters and the last hour's SMS pages, so a restart loses little, and two relays behind one
address act as one but for an SMS reply, which acknowledges what the relay that got it sent.
Relays beside different Alertmanager peers ask each other before a page goes out
(``peers``, ``/-/peer/page``) and share the Watchdog's heartbeat (``/-/peer/state``,
``heartbeat``).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import generate_latest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..alertmanager import Alertmanagers
from . import ackpage as pages
from .acks import Acknowledgements
from .acks import html_response as _html
from .acks import text_response as _text
from .config import RelayConfig
from .expiry import Expiry
from .failover import Page, failover_for, voice_page
from .heartbeat import PipelineWatch, playbook_of
from .links import AckTarget, LinkSigner
from .memory import SentPages
from .metrics import RelayMetrics
from .peers import DUPLICATE, SEND, Peers, page_key
from .providers import ProviderError, PushoverSender, TwilioSender, post_chat
from .texts import (
    BadNotification,
    Notification,
    chat_page_text,
    parse_notification,
    push_fields,
    sms_text,
    voice_twiml,
)

log = logging.getLogger("pagerkit.relay")

__all__ = ["RelayApp", "SentPages"]
URLS = Map([
    Rule("/", endpoint="landing", methods=["GET"]),
    Rule("/-/healthy", endpoint="healthy", methods=["GET"]),
    Rule("/metrics", endpoint="metrics", methods=["GET"]),
    Rule("/page/<team>/<member>/<any(push,sms,voice):channel>", endpoint="page",
         methods=["POST"]),
    Rule("/heartbeat", endpoint="heartbeat", methods=["POST"]),
    Rule("/-/peer/page", endpoint="peer_page", methods=["POST"]),
    Rule("/-/peer/state", endpoint="peer_state", methods=["GET"]),
    Rule("/a/<token>", endpoint="ack_link", methods=["GET", "POST"]),
    Rule("/twilio/voice", endpoint="key_press", methods=["POST"]),
    Rule("/twilio/sms", endpoint="sms_reply", methods=["POST"]),
], strict_slashes=False)


class RelayApp:
    def __init__(self, config: RelayConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.metrics = RelayMetrics()
        self.signer = LinkSigner(config.signing_key.reveal(), config.link_ttl, clock)
        self.am = Alertmanagers(config.alertmanagers, config.alertmanager_timeout)
        self.sent = SentPages()
        self.peers = Peers(config.peering, config.webhook_auth, self.sent, self.metrics, clock)
        self.twilio = TwilioSender(config.twilio, config.provider_timeout) \
            if config.twilio else None
        self.pushover = PushoverSender(*config.pushover, config.provider_timeout) \
            if config.pushover else None
        self.failover = failover_for(config, self.metrics, self.twilio, self.pushover)
        self.watch = PipelineWatch(config, self.peers, self.metrics, self.twilio,
                                   self.pushover, self._announce, clock)
        self.expiry = Expiry(self.am, self.metrics, config.expire_interval,
                             config.resend_window)
        self.acks = Acknowledgements(config, self.am, self.signer, self.metrics, self.twilio,
                                     self._announce, clock)
        self._caught_up = threading.Event()
        """Set by ``start`` once the peers were asked what they sent: a page that comes
        before waits for it, at most as long as asking them may take."""

    def start(self) -> None:
        """Start the relay's loops: the expiry of acknowledgements and the heartbeat watch.
        The peers are polled first, and learned from (``Peers.catch_up``): what they sent
        while this relay was down is held as sent here before any page goes out."""
        self.peers.poll()
        self._caught_up.set()
        self.expiry.start()
        self.watch.start()

    def stop(self) -> None:
        self.watch.stop()
        self.expiry.stop()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = exc.get_response()
        body: Iterable[bytes] = response(environ, start_response)
        # Werkzeug answers HEAD with no body at all, and Hypercorn's WSGI side sends the
        # status only with a first chunk of body: without one empty chunk, a HEAD gets 500.
        return body if request.method != "HEAD" else [b""]

    # --- Alertmanager's side -------------------------------------------------------------

    def on_page(self, request: Request, team: str, member: str, channel: str) -> Response:
        refused = self._refuse_webhook(request)
        if refused is not None:
            self.metrics.notifications.labels(channel, "refused").inc()
            return refused
        spec = self.config.routing.team(team)
        if spec is None or member not in {m.name for m in spec.members}:
            self.metrics.notifications.labels(channel, "refused").inc()
            return _text(f"no member {member} in team {team}\n", 400)
        try:
            notification = parse_notification(request.get_data(), team, member, channel)
        except BadNotification as exc:
            self.metrics.notifications.labels(channel, "refused").inc()
            return _text(f"{exc}\n", 400)
        if not notification.firing:
            self.metrics.notifications.labels(channel, "resolved").inc()
            self.expiry.wake(notification.ack_labels)
            return _text("resolved\n")
        return self._send(notification)

    def on_heartbeat(self, request: Request) -> Response:
        refused = self._refuse_webhook(request)
        if refused is not None:
            return refused
        self.watch.heard(playbook_of(request.get_data()))
        return _text("ok\n")

    def on_peer_page(self, request: Request) -> Response:
        """A peer relay's claim of a page, or its news that it sent or gave it up."""
        refused = self._refuse_webhook(request)
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        return _json(self.peers.answer(body if isinstance(body, dict) else {}))

    def on_peer_state(self, request: Request) -> Response:
        """What a peer relay polls: this relay's name, its heartbeat and its alarm."""
        return self._refuse_webhook(request) or _json(self.watch.state())

    def _refuse_webhook(self, request: Request) -> Response | None:
        auth = self.config.webhook_auth
        if auth is not None:
            given = request.authorization
            if given is None or given.type != "basic" or not (
                    hmac.compare_digest((given.username or "").encode(), auth[0].encode())
                    and hmac.compare_digest((given.password or "").encode(),
                                            auth[1].reveal().encode())):
                return Response("unauthorized\n", 401,
                                {"WWW-Authenticate": 'Basic realm="pagerkit relay"'})
        length = request.content_length
        if (length is not None and length > self.config.max_body_bytes) or \
                len(request.get_data(cache=True)) > self.config.max_body_bytes:
            return _text(f"the body is larger than {self.config.max_body_bytes} bytes "
                         "(relay.max_body_bytes); nothing was sent\n", 400)
        return None

    def _send(self, n: Notification) -> Response:
        if self.acks.covers(n.ack_labels):
            self.metrics.notifications.labels(n.channel, "acknowledged").inc()
            return _text("acknowledged already: not sent\n")
        key = page_key(n.dedup_key())
        self._caught_up.wait(2 * self.config.peering.timeout * len(self.config.peering.peers))
        claimed = self.peers.claim(key)
        if claimed != SEND:
            self.metrics.notifications.labels(n.channel, claimed).inc()
            return _text("duplicate: already sent\n" if claimed == DUPLICATE else
                         "duplicate: a peer relay sent it\n")
        started = time.perf_counter()
        try:
            ref = self._deliver(n)
        except ProviderError as exc:
            self.peers.failed(key)
            self.metrics.notifications.labels(n.channel, "failed").inc()
            log.warning("page to %s by %s failed: %s", n.member, n.channel, exc)
            return _text(f"not sent: {exc}\n", 502)
        self.peers.sent_ok(key)
        self.metrics.send_seconds.labels(n.channel).observe(time.perf_counter() - started)
        self.metrics.notifications.labels(n.channel, "sent").inc()
        log.info("paged %s by %s for %s (tier %s): %s", n.member, n.channel,
                 n.ack_labels.get("alertname"), n.tier, ref)
        if n.tier == "1":
            self._announce(n.team, chat_page_text(n, self.link(n.member, "chat", n)))
        return _text(f"sent {ref}\n")

    def _deliver(self, n: Notification) -> str:
        contact = self.config.contacts[n.member]
        if n.channel == "push":
            if contact.pushover_user_key is None:
                raise ProviderError("pushover", f"no Pushover key for {n.member}")
            return str(self.failover.deliver(Page(
                "push", user_key=contact.pushover_user_key,
                fields=push_fields(n, self.link(n.member, "push", n)))))
        if contact.phone is None:
            raise ProviderError("twilio", f"no phone for {n.member}")
        if n.channel == "sms":
            ref = str(self.failover.deliver(Page("sms", contact.phone, sms_text(
                n, self.link(n.member, "sms", n), self.config.sms_max_chars))))
            self.acks.sms_pages.add(AckTarget(n.member, "sms", n.ack_labels, n.started))
            return ref
        token = self.signer.token(AckTarget(n.member, "voice", n.ack_labels, n.started))
        gather = f"{self.config.public_url}/twilio/voice?t={token}"
        return str(self.failover.deliver(voice_page(n, contact.phone, voice_twiml(n, gather))))

    def link(self, member: str, channel: str, n: Notification) -> str:
        """The signed link to the page that acknowledges this incident of ``n``'s group."""
        token = self.signer.token(AckTarget(member, channel, n.ack_labels, n.started))
        return f"{self.config.public_url}/a/{token}"

    # --- the person's side ---------------------------------------------------------------

    def on_ack_link(self, request: Request, token: str) -> Response:
        return self.acks.on_link(request, token)

    def on_key_press(self, request: Request) -> Response:
        return self.acks.on_key_press(request)

    def on_sms_reply(self, request: Request) -> Response:
        return self.acks.on_sms_reply(request)

    def _announce(self, team_name: str, text: str) -> None:
        team = self.config.routing.team(team_name)
        if team is None:
            return
        try:
            post_chat(team, text, self.config.provider_timeout)
        except ProviderError as exc:
            self.metrics.provider_errors.labels(exc.provider).inc()
            log.warning("chat announcement for team %s failed: %s", team_name, exc)

    # --- for Prometheus and people -------------------------------------------------------

    def on_metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry),
                        content_type="text/plain; version=0.0.4; charset=utf-8")

    def on_healthy(self, request: Request) -> Response:
        return _text("ok\n")

    def on_landing(self, request: Request) -> Response:
        return _html(pages.page("pagerkit relay", "<h1>pagerkit relay</h1><p><a href=\""
                                "metrics\">metrics</a></p>"))


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data), 200, content_type="application/json")
