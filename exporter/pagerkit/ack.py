"""``pagerkit ack``: acknowledge from a terminal, the same silence a page's link creates.

An acknowledgement is an Alertmanager silence on the alertname (and the team, when
given): it matches every escalation tier, so the later tiers stop.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from dataclasses import dataclass
from typing import Any

import requests

from .errors import UserError

DEFAULT_URL = "http://127.0.0.1:9093"
COMMENT_PREFIX = "pagerkit ack:"
"""Every acknowledgement's silence comment starts so: the relay expires these silences when
their alert resolves, and ``pagerkit report`` counts them as acknowledgements."""


@dataclass(frozen=True)
class Silence:
    id: str
    alertname: str
    team: str | None
    ends: dt.datetime
    created_by: str
    comment: str


def alertmanager_url(flag: str | None, routing_url: str | None) -> str:
    """--alertmanager, else $PAGERKIT_ALERTMANAGER_URL, else the routing spec's, else
    Alertmanager's default address."""
    return (flag or os.environ.get("PAGERKIT_ALERTMANAGER_URL") or routing_url
            or DEFAULT_URL).rstrip("/")


def acknowledge(url: str, alertname: str, team: str | None, seconds: float,
                comment: str | None = None) -> Silence:
    now = dt.datetime.now(dt.UTC)
    matchers = [_matcher("alertname", alertname)] + ([_matcher("team", team)] if team else [])
    who = _who()
    text = ack_comment(who, "terminal", comment)
    body = {"matchers": matchers, "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(seconds=seconds)).isoformat(),
            "createdBy": who, "comment": text}
    data = _call(url, "post", "/api/v2/silences", json=body)
    return Silence(str(data["silenceID"]), alertname, team, now + dt.timedelta(seconds=seconds),
                   who, text)


def ack_comment(member: str, channel: str, note: str | None = None) -> str:
    """``pagerkit ack: alice by sms``, and the note if any."""
    return f"{COMMENT_PREFIX} {member} by {channel}" + (f": {note}" if note else "")


def active_silences(url: str) -> list[Silence]:
    """Active silences on an alertname: the acknowledgements, newest first."""
    out = []
    for item in _call(url, "get", "/api/v2/silences"):
        if item.get("status", {}).get("state") != "active":
            continue
        equal = {m["name"]: m["value"] for m in item.get("matchers", [])
                 if not m.get("isRegex") and m.get("isEqual", True)}
        if "alertname" in equal:
            out.append(Silence(item["id"], equal["alertname"], equal.get("team"),
                               dt.datetime.fromisoformat(item["endsAt"].replace("Z", "+00:00")),
                               item.get("createdBy", ""), item.get("comment", "")))
    return sorted(out, key=lambda s: s.ends, reverse=True)


def _matcher(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": False, "isEqual": True}


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "pagerkit ack"


def _call(url: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = requests.request(method, url + path, timeout=10, **kwargs)
    except requests.exceptions.RequestException as exc:
        raise UserError("--alertmanager", None, f"cannot reach Alertmanager at {url} "
                                                f"({type(exc).__name__}); give its address "
                                                "with --alertmanager or "
                                                "PAGERKIT_ALERTMANAGER_URL") from None
    if response.status_code >= 400:
        raise UserError("--alertmanager", None, f"Alertmanager at {url} answered "
                                                f"{response.status_code}: "
                                                f"{response.text.strip()[:200]}")
    return response.json()
