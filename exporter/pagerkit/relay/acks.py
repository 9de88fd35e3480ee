"""The person's side of the relay: a link's page and its button, a key press during a call,
an SMS reply. Each becomes the same Alertmanager silence on the alert group, for the
incident that was paged and no later one.

A link and a call name their incident (``links``); an SMS reply names nothing, so it
applies to the SMS pages its member got in the last hour (``SMS_REPLY_WINDOW``) whose
incident still fires. Twilio retries a callback it got no answer to: one whose MessageSid
or CallSid was processed already is answered empty and acknowledges nothing again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from ..alertmanager import AlertmanagerDown, AlertmanagerRefused, Alertmanagers
from . import ackpage as pages
from .config import RelayConfig
from .links import AckTarget, BadLink, LinkSigner, start_of
from .memory import SentPages, SmsPages
from .metrics import RelayMetrics
from .providers import TwilioSender
from .texts import chat_ack_text

log = logging.getLogger("pagerkit.relay")

SMS_ACK = re.compile(r"\s*ack(?:\s+(30m|2h))?\s*", re.IGNORECASE)
KEY_PRESS_SECONDS = SMS_SECONDS = 1800.0
SMS_REPLY_WINDOW = 3600.0
"""An SMS reply acknowledges the SMS pages of the last hour: tiers are minutes apart, and a
reply hours later more likely answers something else than the page it followed."""

Announce = Callable[[str, str], None]


class Acknowledgements:
    """The three ways in, one silence out. ``announce(team, text)`` tells the team's chat;
    ``sms_pages`` is filled by the sending side, which knows what went out by SMS."""

    def __init__(self, config: RelayConfig, am: Alertmanagers, signer: LinkSigner,
                 metrics: RelayMetrics, twilio: TwilioSender | None, announce: Announce,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.am, self.signer, self.metrics = config, am, signer, metrics
        self.twilio, self.announce, self.clock = twilio, announce, clock
        self.sms_pages = SmsPages(SMS_REPLY_WINDOW, clock)
        self.callbacks = SentPages()
        self._lock = threading.Lock()

    def covers(self, labels: dict[str, str]) -> bool:
        """Whether an acknowledgement covers a page's alert group. Alertmanager mutes the
        later tiers itself; the first tier reaches the relay (``FIRST_TIER_KEPT`` in
        ``pagerkit.alertmanager``) and is dropped here. When no Alertmanager answers, the
        page goes out: a page too many beats a lost one."""
        try:
            return self.am.acknowledged(labels)
        except AlertmanagerDown as exc:
            log.warning("cannot check acknowledgements before paging: %s", exc)
            return False

    # --- a link --------------------------------------------------------------------------

    def on_link(self, request: Request, token: str) -> Response:
        """GET and HEAD show the page; only a POST acknowledges, and only while the
        incident the link was sent for fires (409 when it is over)."""
        try:
            target = self.signer.target(token)
        except BadLink as exc:
            return html_response(pages.refused_page(str(exc)), 403)
        name = target.labels.get("alertname", "alert")
        zone = self.timezone(target.member)
        try:
            alerts = self.am.alerts(target.labels)
            if request.method != "POST" or not target.goes_on(alerts):
                now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
                covered = target.goes_on(alerts) and self.am.acknowledged(target.labels)
                return html_response(pages.alert_page(target, alerts, zone, now, covered),
                                     409 if request.method == "POST" else 200)
            choice = {v: s for v, _, s in pages.CHOICES}.get(request.form.get("for", ""))
            if choice is None:
                return html_response(pages.not_acknowledged_page(
                    name, "choose 30 minutes or 2 hours"), 400)
            until = self.acknowledge(target, "link", choice, alerts)
        except AlertmanagerRefused as exc:
            self._not_acknowledged(name, exc)
            return html_response(pages.not_acknowledged_page(
                name, f"Alertmanager at {exc}", again=False), 502)
        except AlertmanagerDown as exc:
            self._not_acknowledged(name, exc)
            return html_response(pages.not_acknowledged_page(
                name, "no Alertmanager can be reached"), 503)
        book = next((a.get("annotations", {}).get("runbook_url") for a in alerts), None)
        return html_response(pages.acknowledged_page(target, until, zone, book))

    # --- Twilio's callbacks --------------------------------------------------------------

    def on_key_press(self, request: Request) -> Response:
        from twilio.twiml.voice_response import VoiceResponse

        if not self._signed(request):
            return text_response("invalid Twilio signature\n", 403)
        answer = VoiceResponse()
        key = ("CallSid", request.form.get("CallSid", ""))
        if not self._first(key):
            return xml_response(str(answer))
        try:
            target = self.signer.target(request.args.get("t", ""))
        except BadLink as exc:
            answer.say(f"{exc}. Nothing was acknowledged.")
            return xml_response(str(answer))
        if request.form.get("Digits") != "1":
            answer.say("Not acknowledged. The escalation goes on. Goodbye.")
            return xml_response(str(answer))
        try:
            alerts = self.am.alerts(target.labels)
            if target.goes_on(alerts):
                self.acknowledge(target, "key_press", KEY_PRESS_SECONDS, alerts)
                answer.say("Acknowledged for 30 minutes. The later tiers will not page. "
                           "Goodbye.")
            else:
                answer.say("The incident of this call has ended. Nothing was acknowledged. "
                           "Goodbye.")
        except AlertmanagerRefused as exc:
            self._not_acknowledged(target.labels.get("alertname", "alert"), exc)
            answer.say("Alertmanager refused the acknowledgement. The page is NOT "
                       "acknowledged. Use pagerkit ack.")
        except AlertmanagerDown as exc:
            self._not_acknowledged(target.labels.get("alertname", "alert"), exc)
            self.callbacks.release(key)
            answer.say("Alertmanager cannot be reached. The page is NOT acknowledged. "
                       "Use the link in the message, or pagerkit ack.")
        return xml_response(str(answer))

    def on_sms_reply(self, request: Request) -> Response:
        from twilio.twiml.messaging_response import MessagingResponse

        if not self._signed(request):
            return text_response("invalid Twilio signature\n", 403)
        answer = MessagingResponse()
        key = ("MessageSid", request.form.get("MessageSid", ""))
        if not self._first(key):
            return xml_response(str(answer))
        member = next((name for name, c in self.config.contacts.items()
                       if c.phone and c.phone == request.form.get("From")), None)
        match = SMS_ACK.fullmatch(request.form.get("Body", ""))
        if member is None or match is None:
            answer.message("Not understood: reply ACK (or ACK 2h) to acknowledge your page."
                           if member else "This number is not a pagerkit member's.")
            return xml_response(str(answer))
        seconds = 7200.0 if (match.group(1) or "").lower() == "2h" else SMS_SECONDS
        try:
            names = self._acknowledge_sms_pages(member, seconds)
        except AlertmanagerRefused as exc:
            self._not_acknowledged(f"the SMS pages of {member}", exc)
            answer.message(f"NOT acknowledged: Alertmanager at {exc}. Use the link.")
            return xml_response(str(answer))
        except AlertmanagerDown as exc:
            self._not_acknowledged(f"the SMS pages of {member}", exc)
            self.callbacks.release(key)
            answer.message("NOT acknowledged: Alertmanager cannot be reached. Use the link.")
            return xml_response(str(answer))
        answer.message(f"Acknowledged {', '.join(names)}." if names else
                       "Nothing paged to you by SMS in the last hour still fires: nothing "
                       "was acknowledged. Use the link of the page.")
        return xml_response(str(answer))

    def _acknowledge_sms_pages(self, member: str, seconds: float) -> list[str]:
        """An SMS reply names no alert: it acknowledges the incidents paged to its member
        by SMS in the last ``SMS_REPLY_WINDOW`` that still fire, each once."""
        names: list[str] = []
        done: list[dict[str, str]] = []
        for paged in self.sms_pages.recent(member):
            if paged.labels in done:
                continue
            alerts = self.am.alerts(paged.labels)
            if paged.goes_on(alerts):
                target = AckTarget(member, "sms", paged.labels, paged.started, paged.signed_at)
                self.acknowledge(target, "reply", seconds, alerts)
                done.append(paged.labels)
                names.append(paged.labels.get("alertname", "alert"))
        return names

    def _first(self, key: tuple[str, str]) -> bool:
        """Whether this callback is new; one without an id always is."""
        return not key[1] or self.callbacks.claim(key)

    def _signed(self, request: Request) -> bool:
        if self.twilio is None:
            return False
        url = self.config.public_url + request.full_path.rstrip("?")
        return self.twilio.signed(url, request.form,
                                  request.headers.get("X-Twilio-Signature", ""))

    # --- the silence ---------------------------------------------------------------------

    def acknowledge(self, target: AckTarget, method: str, seconds: float,
                    alerts: list[dict[str, Any]]) -> dt.datetime:
        """The silence, the metrics and the chat announcement; ``AlertmanagerDown`` when no
        Alertmanager took it (then nothing is announced). ``method``: link, reply or
        key_press. A repeat by the same member extends their silence, or keeps it when it
        lasts long enough already: then nothing is counted or announced again."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        how = f"{target.channel} {method.replace('_', ' ')}"
        with self._lock:  # a double tap: the second finds the first's silence
            silence = self.am.silence(target.labels, target.member, how, seconds, now=now)
        log.info("%s acknowledged %s by %s until %s (silence %s, %s)", target.member,
                 target.labels, how, silence.ends, silence.id, silence.outcome)
        if silence.outcome == "created":
            self.metrics.acks.labels(target.channel, method).inc()
            self._observe_time_to_ack(alerts, now)
        team = self.config.routing.team(target.labels.get("team", ""))
        if team is not None and silence.outcome != "kept":
            self.announce(team.name, chat_ack_text(target.member, target.labels, how, now,
                                                   silence.ends, self.timezone(target.member)))
        return silence.ends

    def _observe_time_to_ack(self, alerts: list[dict[str, Any]], now: dt.datetime) -> None:
        starts = [start_of(a) for a in alerts if a["labels"].get("tier", "1") == "1"]
        if starts:
            self.metrics.time_to_ack.observe(max((now - min(starts)).total_seconds(), 0.0))

    def _not_acknowledged(self, what: str, exc: AlertmanagerDown) -> None:
        """Counted and logged: nothing was acknowledged."""
        if isinstance(exc, AlertmanagerRefused):
            log.warning("Alertmanager refused the acknowledgement of %s: %s", what, exc)
            return
        self.metrics.alertmanager_errors.inc()
        log.warning("no Alertmanager answered for %s, nothing acknowledged: %s", what, exc)

    def timezone(self, member: str) -> str:
        for team in self.config.routing.teams:
            for m in team.members:
                if m.name == member:
                    return m.timezone
        return "UTC"


def text_response(body: str, status: int = 200) -> Response:
    return Response(body, status, content_type="text/plain; charset=utf-8")


def html_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status, headers=pages.HEADERS)


def xml_response(body: str) -> Response:
    return Response(body, 200, content_type="application/xml")
