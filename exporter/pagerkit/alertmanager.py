"""Acknowledgements: Alertmanager silences on an alert group, from a page or a terminal.

An acknowledgement is a silence on the group's labels without ``tier`` (the alertname and
the team): it matches every escalation tier, so the later tiers stop. Silences are
replicated across an HA pair by Alertmanager itself, so the relay keeps no state of its
own: a restarted relay, or a second one, finds every acknowledgement there.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .errors import UserError

DEFAULT_URL = "http://127.0.0.1:9093"
COMMENT_PREFIX = "pagerkit ack:"
"""Every acknowledgement's silence comment starts so: the relay expires these silences when
their alert resolves, and ``pagerkit report`` counts them as acknowledgements."""


class AlertmanagerDown(Exception):
    """No Alertmanager answered: nothing was acknowledged."""


class AlertmanagerRefused(AlertmanagerDown):
    """An Alertmanager answered 4xx: the request itself is wrong, another peer would agree."""


@dataclass(frozen=True)
class Silence:
    id: str
    alertname: str
    team: str | None
    ends: dt.datetime
    created_by: str
    comment: str


@dataclass(frozen=True)
class Alertmanagers:
    """One Alertmanager, or the peers of an HA pair, tried in order: a peer that cannot be
    reached, or answers 5xx, hands the request to the next."""

    urls: tuple[str, ...]
    timeout: float = 5.0

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        errors = []
        for url in self.urls:
            try:
                response = requests.request(method, url + path, timeout=self.timeout, **kwargs)
            except requests.exceptions.RequestException as exc:
                errors.append(f"{url}: {type(exc).__name__}")
                continue
            if response.status_code >= 500:
                errors.append(f"{url}: {response.status_code} {response.text.strip()[:100]}")
                continue
            if response.status_code >= 400:
                raise AlertmanagerRefused(f"{url} refused the request: {response.status_code} "
                                       f"{response.text.strip()[:200]}")
            return response.json() if response.content else None
        raise AlertmanagerDown("; ".join(errors) or "no Alertmanager configured")

    def silence(self, labels: Mapping[str, str], member: str, channel: str, seconds: float,
                note: str | None = None, now: dt.datetime | None = None) -> Silence:
        """The acknowledgement: a silence on ``labels``, created by ``member``."""
        start = now or dt.datetime.now(dt.UTC)
        ends = start + dt.timedelta(seconds=seconds)
        comment = ack_comment(member, channel, note)
        body = {"matchers": [_matcher(k, v) for k, v in sorted(labels.items())],
                "startsAt": start.isoformat(), "endsAt": ends.isoformat(),
                "createdBy": member, "comment": comment}
        data = self.call("post", "/api/v2/silences", json=body)
        return Silence(str(data["silenceID"]), labels.get("alertname", ""), labels.get("team"),
                       ends, member, comment)

    def alerts(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The alerts that match ``labels`` and have not resolved, silenced or not."""
        params = [("filter", f'{k}="{v}"') for k, v in sorted(labels.items())]
        params += [("active", "true"), ("silenced", "true"), ("inhibited", "true"),
                   ("unprocessed", "true")]
        return list(self.call("get", "/api/v2/alerts", params=params))

    def acknowledgements(self) -> list[dict[str, Any]]:
        """The active silences an acknowledgement created, as Alertmanager returns them."""
        return [s for s in self.call("get", "/api/v2/silences")
                if s.get("status", {}).get("state") == "active"
                and str(s.get("comment", "")).startswith(COMMENT_PREFIX)]

    def expire(self, silence_id: str) -> None:
        self.call("delete", f"/api/v2/silence/{silence_id}")


def alertmanager_url(flag: str | None, routing_url: str | None) -> str:
    """--alertmanager, else $PAGERKIT_ALERTMANAGER_URL, else the routing spec's, else
    Alertmanager's default address."""
    return (flag or os.environ.get("PAGERKIT_ALERTMANAGER_URL") or routing_url
            or DEFAULT_URL).rstrip("/")


def ack_comment(member: str, channel: str, note: str | None = None) -> str:
    """``pagerkit ack: alice by sms``, and the note if any."""
    return f"{COMMENT_PREFIX} {member} by {channel}" + (f": {note}" if note else "")


def silence_labels(silence: Mapping[str, Any]) -> dict[str, str]:
    """A silence's equality matchers, as labels."""
    return {m["name"]: m["value"] for m in silence.get("matchers", [])
            if not m.get("isRegex") and m.get("isEqual", True)}


def acknowledge(url: str, alertname: str, team: str | None, seconds: float,
                comment: str | None = None) -> Silence:
    """``pagerkit ack``: the same silence, created by the user at the terminal."""
    labels = {"alertname": alertname, **({"team": team} if team else {})}
    try:
        return Alertmanagers((url,), timeout=10).silence(labels, _who(), "terminal", seconds,
                                                          comment)
    except AlertmanagerDown as exc:
        raise _down(url, exc) from None


def active_silences(url: str) -> list[Silence]:
    """Active silences on an alertname: the acknowledgements, newest first."""
    try:
        items = Alertmanagers((url,), timeout=10).call("get", "/api/v2/silences")
    except AlertmanagerDown as exc:
        raise _down(url, exc) from None
    out = []
    for item in items:
        equal = silence_labels(item)
        if item.get("status", {}).get("state") == "active" and "alertname" in equal:
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


def _down(url: str, exc: AlertmanagerDown) -> UserError:
    if isinstance(exc, AlertmanagerRefused):
        return UserError("--alertmanager", None, f"Alertmanager {exc}")
    return UserError("--alertmanager", None, f"cannot reach Alertmanager at {url} ({exc}); "
                                            "give its address with --alertmanager or "
                                            "PAGERKIT_ALERTMANAGER_URL")
