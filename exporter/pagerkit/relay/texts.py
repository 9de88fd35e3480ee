"""What the relay says: Alertmanager's webhook in, the SMS, call, push and chat texts out.

Pure functions, no I/O: the relay's HTTP side hands them the request body and sends what
they return.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jsonschema

from ..validation import load_schema

CHANNEL_CODES = {"push": "p", "sms": "s", "voice": "v", "chat": "c"}
CUT = "..."  # GSM-7 has no ellipsis character: one would make the SMS UCS-2, 70 per segment


class BadNotification(ValueError):
    """The webhook body is not Alertmanager's version 4 payload; nothing is sent for it."""


@dataclass(frozen=True)
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: dt.datetime
    fingerprint: str
    firing: bool


@dataclass(frozen=True)
class Notification:
    team: str
    member: str
    channel: str
    firing: bool
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[Alert, ...]

    @property
    def ack_labels(self) -> dict[str, str]:
        """The labels an acknowledgement silences: the group's, without ``tier``, so that
        it matches every tier of the alert."""
        labels = {k: v for k, v in self.group_labels.items() if k != "tier"}
        return labels or {"alertname": self.first.labels.get("alertname", ""),
                          "team": self.team}

    @property
    def firing_alerts(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.firing)

    @property
    def first(self) -> Alert:
        return (self.firing_alerts or self.alerts)[0]

    @property
    def started(self) -> int:
        """When the incident started (Unix seconds): its earliest firing alert's start. An
        acknowledgement link is valid for this incident only."""
        return int(min(a.starts_at for a in (self.firing_alerts or self.alerts)).timestamp())

    @property
    def tier(self) -> str:
        return self.group_labels.get("tier") or self.first.labels.get("tier", "1")

    def dedup_key(self) -> tuple[Any, ...]:
        """Equal for Alertmanager's retries and an HA peer's copy of the same page; a new
        firing of the alert (a new start) is a new page."""
        starts = tuple(sorted((a.fingerprint or json.dumps(a.labels, sort_keys=True),
                               a.starts_at.isoformat()) for a in self.firing_alerts))
        return (self.group_key, self.member, self.channel, starts)


def parse_notification(body: bytes, team: str, member: str, channel: str) -> Notification:
    """Alertmanager's webhook (version 4) for ``/page/<team>/<member>/<channel>``."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadNotification(f"the body is not JSON: {exc}") from None
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(load_schema("webhook.schema.json")).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the body"
        raise BadNotification(f"not an Alertmanager version 4 webhook: {where}: {error.message}")
    return Notification(team, member, channel, data["status"] == "firing", data["groupKey"],
                        dict(data["groupLabels"]), tuple(_alert(a) for a in data["alerts"]))


def _alert(raw: dict[str, Any]) -> Alert:
    try:
        starts = dt.datetime.fromisoformat(raw["startsAt"].replace("Z", "+00:00"))
    except ValueError:
        raise BadNotification(f"startsAt {raw['startsAt']!r} is not a time") from None
    return Alert(dict(raw["labels"]), dict(raw.get("annotations", {})), starts,
                 str(raw.get("fingerprint", "")), raw["status"] == "firing")


def summary(n: Notification) -> str:
    """The first alert's summary, and how many more the group holds."""
    text = n.first.annotations.get("summary") or n.first.labels.get("alertname", "an alert")
    more = len(n.firing_alerts) - 1
    return f"{text} (+{more} more)" if more > 0 else text


def playbook(n: Notification) -> str | None:
    """The first alert's ``runbook_url``, if it is a web address (``web_url``)."""
    return web_url(n.first.annotations.get("runbook_url"))


def web_url(text: str | None) -> str | None:
    """``text`` if it is an http or https URL with a host, else None. Annotations are
    anyone's to write, and a ``javascript:`` or ``data:`` address behind a link runs when a
    tired person taps it; a browser also ignores leading blanks and control characters
    (`` javascript:``), so any of them anywhere refuses the whole text."""
    if not text or any(c.isspace() or unicodedata.category(c).startswith("C") for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme in ("http", "https") and parts.hostname else None


def slack_escaped(text: str) -> str:
    """``text`` with the three characters Slack interprets escaped, as its docs require:
    ``<!channel>`` in a label would notify the whole channel, ``<url|text>`` would show a
    link under another name."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sms_text(n: Notification, ack_link: str, max_chars: int) -> str:
    """``PAGE <team> tier <n>: <summary>``, the acknowledgement link and the playbook link.
    Over ``max_chars``, the summary is cut, never a link."""
    head = f"PAGE {n.team} tier {n.tier}: "
    tail = f"\nAck: {ack_link}" + (f"\nPlaybook: {playbook(n)}" if playbook(n) else "")
    text = summary(n)
    room = max_chars - len(head) - len(tail)
    if len(text) > room:
        text = text[:max(room - len(CUT), 0)].rstrip() + CUT
    return head + text + tail


def voice_twiml(n: Notification, gather_url: str) -> str:
    """The call: the summary, then "press 1 to acknowledge", twice, then a goodbye that says
    the page is not acknowledged."""
    from twilio.twiml.voice_response import Gather, VoiceResponse

    spoken = f"This is pagerkit, paging team {n.team}. {summary(n)}"
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=gather_url, method="POST", timeout=10)
    gather.say(spoken)
    gather.say("Press 1 to acknowledge.")
    gather.pause(length=2)
    gather.say("Press 1 to acknowledge.")
    response.append(gather)
    response.say("Nothing was pressed. The page is not acknowledged. Goodbye.")
    return str(response)


def push_fields(n: Notification, ack_link: str) -> dict[str, str]:
    """Pushover's message fields: the link opens the acknowledgement page."""
    lines = [summary(n), n.first.annotations.get("description", "")]
    if playbook(n):
        lines.append(f"Playbook: {playbook(n)}")
    return {"title": f"{n.first.labels.get('alertname', 'alert')} ({n.team}, tier {n.tier})",
            "message": "\n".join(line for line in lines if line)[:1024],
            "url": ack_link, "url_title": "Acknowledge", "priority": "1"}


def chat_page_text(n: Notification, ack_link: str) -> str:
    """Escaped for Slack (``slack_escaped``): labels and annotations are not markup."""
    book = f" Playbook: {playbook(n)}" if playbook(n) else ""
    return slack_escaped(f"Paging {n.member} ({n.channel}, tier {n.tier}): {summary(n)}.{book} "
                         f"Acknowledge: {ack_link}")


def chat_ack_text(member: str, labels: dict[str, str], how: str, at: dt.datetime,
                  until: dt.datetime, timezone: str) -> str:
    """``alice acknowledged JobsWaitingTooLong (team platform) at 03:12 NZDT ...``: in the
    member's own time zone, with UTC beside it; escaped for Slack."""
    zone = ZoneInfo(timezone)
    local, end = at.astimezone(zone), until.astimezone(zone)
    team = f" (team {labels['team']})" if "team" in labels else ""
    return slack_escaped(
        f"{member} acknowledged {labels.get('alertname', 'an alert')}{team} by {how} at "
        f"{local:%H:%M %Z} ({at.astimezone(dt.UTC):%H:%M} UTC), until {end:%H:%M %Z}: "
        "the later tiers will not page")
