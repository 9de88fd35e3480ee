"""``pagerkit relay``: Alertmanager's pages out as pushes, SMS and calls; acknowledgements in.

Alertmanager posts each page to ``/page/<team>/<member>/<channel>``. The relay sends it
once per group, tier and member (retries and an HA pair's copies are recognised) with a
signed link to ``/a/<token>``, where a POST acknowledges. A key press (``/twilio/voice``)
and an SMS reply (``/twilio/sms``) acknowledge too, when Twilio's signature is valid.

Every acknowledgement is an Alertmanager silence; a background loop (relay_expiry.py)
expires those whose alert resolved. The relay's own memory only holds the duplicate
filter, so a restart loses nothing that matters and two relays behind one address act as
one.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from prometheus_client import generate_latest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..alertmanager import AlertmanagerDown, Alertmanagers
from . import ackpage as pages
from .config import RelayConfig
from .expiry import Expiry
from .links import AckTarget, BadLink, LinkSigner
from .metrics import RelayMetrics
from .providers import ProviderError, PushoverSender, TwilioSender, post_chat
from .texts import (
    BadNotification,
    Notification,
    chat_ack_text,
    chat_page_text,
    parse_notification,
    push_fields,
    sms_text,
    voice_twiml,
)

log = logging.getLogger("pagerkit.relay")

SMS_ACK = re.compile(r"\s*ack(?:\s+(30m|2h))?\s*", re.IGNORECASE)
KEY_PRESS_SECONDS = SMS_SECONDS = 1800.0
URLS = Map([
    Rule("/", endpoint="landing", methods=["GET"]),
    Rule("/-/healthy", endpoint="healthy", methods=["GET"]),
    Rule("/metrics", endpoint="metrics", methods=["GET"]),
    Rule("/page/<team>/<member>/<any(push,sms,voice):channel>", endpoint="page",
         methods=["POST"]),
    Rule("/heartbeat", endpoint="heartbeat", methods=["POST"]),
    Rule("/a/<token>", endpoint="ack_link", methods=["GET", "POST"]),
    Rule("/twilio/voice", endpoint="key_press", methods=["POST"]),
    Rule("/twilio/sms", endpoint="sms_reply", methods=["POST"]),
], strict_slashes=False)


class SentPages:
    """The duplicate filter: a page's key is claimed before it is sent and released if the
    send fails, so a retry sends it then. Bounded, and forgotten after ``ttl``."""

    def __init__(self, ttl: float = 86400.0, size: int = 10000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self._lock = threading.Lock()
        self.ttl, self.size, self.clock = ttl, size, clock

    def claim(self, key: tuple[Any, ...]) -> bool:
        now = self.clock()
        with self._lock:
            while self._seen and (len(self._seen) >= self.size
                                  or next(iter(self._seen.values())) < now - self.ttl):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def release(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            self._seen.pop(key, None)


class RelayApp:
    def __init__(self, config: RelayConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.metrics = RelayMetrics()
        self.signer = LinkSigner(config.signing_key.reveal(), config.link_ttl, clock)
        self.am = Alertmanagers(config.alertmanagers, config.alertmanager_timeout)
        self.sent = SentPages()
        self.twilio = TwilioSender(config.twilio, config.provider_timeout) \
            if config.twilio else None
        self.pushover = PushoverSender(*config.pushover, config.provider_timeout) \
            if config.pushover else None
        self.expiry = Expiry(self.am, self.metrics, config.expire_interval)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

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
            self.expiry.wake()
            return _text("resolved\n")
        return self._send(notification)

    def on_heartbeat(self, request: Request) -> Response:
        refused = self._refuse_webhook(request)
        if refused is not None:
            return refused
        self.metrics.heartbeat.set(self.clock())
        return _text("ok\n")

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
        key = n.dedup_key()
        if not self.sent.claim(key):
            self.metrics.notifications.labels(n.channel, "duplicate").inc()
            return _text("duplicate: already sent\n")
        started = time.perf_counter()
        try:
            ref = self._deliver(n)
        except ProviderError as exc:
            self.sent.release(key)
            self.metrics.notifications.labels(n.channel, "failed").inc()
            self.metrics.provider_errors.labels(exc.provider).inc()
            log.warning("page to %s by %s failed: %s", n.member, n.channel, exc)
            return _text(f"not sent: {exc}\n", 502)
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
            if self.pushover is None or contact.pushover_user_key is None:
                raise ProviderError("pushover", f"no Pushover key for {n.member}")
            return self.pushover.push(contact.pushover_user_key,
                                      push_fields(n, self.link(n.member, "push", n)))
        if self.twilio is None or contact.phone is None:
            raise ProviderError("twilio", f"no phone or Twilio account for {n.member}")
        if n.channel == "sms":
            return self.twilio.sms(contact.phone, sms_text(
                n, self.link(n.member, "sms", n), self.config.sms_max_chars))
        token = self.signer.token(AckTarget(n.member, "voice", n.ack_labels))
        gather = f"{self.config.public_url}/twilio/voice?t={token}"
        return self.twilio.call(contact.phone, voice_twiml(n, gather))

    def link(self, member: str, channel: str, n: Notification) -> str:
        token = self.signer.token(AckTarget(member, channel, n.ack_labels))
        return f"{self.config.public_url}/a/{token}"

    # --- the person's side ---------------------------------------------------------------

    def on_ack_link(self, request: Request, token: str) -> Response:
        try:
            target = self.signer.target(token)
        except BadLink as exc:
            return _html(pages.refused_page(str(exc)), 403)
        zone = self._timezone(target.member)
        name = target.labels.get("alertname", "alert")
        try:
            alerts = self.am.alerts(target.labels)
        except AlertmanagerDown as exc:
            self.metrics.alertmanager_errors.inc()
            log.warning("no Alertmanager answered for %s: %s", name, exc)
            return _html(pages.not_acknowledged_page(name, "no Alertmanager can be reached"),
                         503)
        if request.method == "GET" or not alerts:
            now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
            return _html(pages.alert_page(target, alerts, zone, now))
        choice = {v: s for v, _, s in pages.CHOICES}.get(request.form.get("for", ""))
        if choice is None:
            return _html(pages.not_acknowledged_page(name, "choose 30 minutes or 2 hours"),
                         400)
        try:
            until = self.acknowledge(target, "link", choice, alerts)
        except AlertmanagerDown:
            return _html(pages.not_acknowledged_page(name, "no Alertmanager can be reached"),
                         503)
        book = next((a.get("annotations", {}).get("runbook_url") for a in alerts), None)
        return _html(pages.acknowledged_page(target, until, zone, book))

    def on_key_press(self, request: Request) -> Response:
        from twilio.twiml.voice_response import VoiceResponse

        if not self._signed(request):
            return _text("invalid Twilio signature\n", 403)
        answer = VoiceResponse()
        try:
            target = self.signer.target(request.args.get("t", ""))
        except BadLink as exc:
            answer.say(f"{exc}. Nothing was acknowledged.")
            return _xml(str(answer))
        if request.form.get("Digits") != "1":
            answer.say("Not acknowledged. The escalation goes on. Goodbye.")
            return _xml(str(answer))
        try:
            self.acknowledge(target, "key_press", KEY_PRESS_SECONDS)
            answer.say("Acknowledged for 30 minutes. The later tiers will not page. Goodbye.")
        except AlertmanagerDown:
            answer.say("Alertmanager cannot be reached. The page is NOT acknowledged. "
                       "Use the link in the message, or pagerkit ack.")
        return _xml(str(answer))

    def on_sms_reply(self, request: Request) -> Response:
        from twilio.twiml.messaging_response import MessagingResponse

        if not self._signed(request):
            return _text("invalid Twilio signature\n", 403)
        member = next((name for name, c in self.config.contacts.items()
                       if c.phone and c.phone == request.form.get("From")), None)
        answer = MessagingResponse()
        match = SMS_ACK.fullmatch(request.form.get("Body", ""))
        if member is None or match is None:
            answer.message("Not understood: reply ACK (or ACK 2h) to acknowledge your page."
                           if member else "This number is not a pagerkit member's.")
            return _xml(str(answer))
        seconds = 7200.0 if (match.group(1) or "").lower() == "2h" else SMS_SECONDS
        try:
            names = self._acknowledge_member(member, seconds)
        except AlertmanagerDown:
            answer.message("NOT acknowledged: Alertmanager cannot be reached. Use the link.")
            return _xml(str(answer))
        answer.message(f"Acknowledged {', '.join(names)}." if names
                       else "Nothing of yours is paging: nothing to acknowledge.")
        return _xml(str(answer))

    def _acknowledge_member(self, member: str, seconds: float) -> list[str]:
        """An SMS reply names no alert: it acknowledges every critical alert of the
        member's teams that still pages (not silenced)."""
        names = []
        for team in self.config.routing.teams:
            if member not in {m.name for m in team.members}:
                continue
            alerts = self.am.alerts({"team": team.name, "severity": "critical"})
            paging = {a["labels"]["alertname"] for a in alerts
                      if a.get("status", {}).get("state") == "active"}
            for alertname in sorted(paging):
                labels = {"alertname": alertname, "team": team.name}
                own = [a for a in alerts if a["labels"]["alertname"] == alertname]
                self.acknowledge(AckTarget(member, "sms", labels), "reply", seconds, own)
                names.append(alertname)
        return names

    def acknowledge(self, target: AckTarget, method: str, seconds: float,
                    alerts: list[dict[str, Any]] | None = None) -> dt.datetime:
        """The silence, the metrics and the chat announcement; ``AlertmanagerDown`` when no
        Alertmanager took it (then nothing is announced). ``method``: link, reply or
        key_press."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        how = f"{target.channel} {method.replace('_', ' ')}"
        try:
            silence = self.am.silence(target.labels, target.member, how, seconds, now=now)
        except AlertmanagerDown as exc:
            self.metrics.alertmanager_errors.inc()
            log.warning("acknowledgement of %s by %s NOT made: %s", target.labels,
                        target.member, exc)
            raise
        self.metrics.acks.labels(target.channel, method).inc()
        self._observe_time_to_ack(target, alerts, now)
        log.info("%s acknowledged %s by %s until %s (silence %s)", target.member,
                 target.labels, how, silence.ends, silence.id)
        team = self.config.routing.team(target.labels.get("team", ""))
        if team is not None:
            self._announce(team.name, chat_ack_text(target.member, target.labels, how, now,
                                                    silence.ends,
                                                    self._timezone(target.member)))
        return silence.ends

    def _observe_time_to_ack(self, target: AckTarget, alerts: list[dict[str, Any]] | None,
                             now: dt.datetime) -> None:
        try:
            alerts = alerts if alerts is not None else self.am.alerts(target.labels)
        except AlertmanagerDown:
            return
        starts = [a["startsAt"] for a in alerts if a["labels"].get("tier", "1") == "1"]
        if starts:
            first = dt.datetime.fromisoformat(min(starts).replace("Z", "+00:00"))
            self.metrics.time_to_ack.observe(max((now - first).total_seconds(), 0.0))

    def _announce(self, team_name: str, text: str) -> None:
        team = self.config.routing.team(team_name)
        if team is None:
            return
        try:
            post_chat(team, text, self.config.provider_timeout)
        except ProviderError as exc:
            self.metrics.provider_errors.labels(exc.provider).inc()
            log.warning("chat announcement for team %s failed: %s", team_name, exc)

    def _signed(self, request: Request) -> bool:
        if self.twilio is None:
            return False
        url = self.config.public_url + request.full_path.rstrip("?")
        return self.twilio.signed(url, request.form,
                                  request.headers.get("X-Twilio-Signature", ""))

    def _timezone(self, member: str) -> str:
        for team in self.config.routing.teams:
            for m in team.members:
                if m.name == member:
                    return m.timezone
        return "UTC"

    # --- for Prometheus and people -------------------------------------------------------

    def on_metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry),
                        content_type="text/plain; version=0.0.4; charset=utf-8")

    def on_healthy(self, request: Request) -> Response:
        return _text("ok\n")

    def on_landing(self, request: Request) -> Response:
        return _html(pages.page("pagerkit relay", "<h1>pagerkit relay</h1><p><a href=\""
                                "metrics\">metrics</a></p>"))


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status, content_type="text/plain; charset=utf-8")


def _html(body: bytes, status: int = 200) -> Response:
    return Response(body, status, headers=pages.HEADERS)


def _xml(body: str) -> Response:
    return Response(body, 200, content_type="application/xml")
