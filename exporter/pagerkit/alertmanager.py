"""Acknowledgements: Alertmanager silences on an alert group, from a page or a terminal.

An acknowledgement is a silence on the group's labels without ``tier`` (the alertname and
the team): it matches every escalation tier, so the later tiers stop. Silences are
replicated across an HA pair by Alertmanager itself, so the relay keeps no state of its
own: a restarted relay, or a second one, finds every acknowledgement there. Acknowledging
again, by the same person, extends their silence instead of stacking another.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import requests

from .errors import UserError

DEFAULT_URL = "http://127.0.0.1:9093"
CLASSIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
REPEAT_SLACK = dt.timedelta(minutes=1)
"""A repeat of an acknowledgement within a minute (a double tap) changes nothing."""
COMMENT_PREFIX = "pagerkit ack:"
"""Every acknowledgement's silence comment starts so: the relay expires these silences when
their alert resolves, and ``pagerkit report`` counts them as acknowledgements."""


class AlertmanagerDown(Exception):
    """No Alertmanager answered: nothing was acknowledged."""


class AlertmanagerRefused(AlertmanagerDown):
    """An Alertmanager answered 4xx: the request itself is wrong, another peer would agree.
    A kind of ``AlertmanagerDown`` (nothing was done) that a caller can tell apart, to say
    that Alertmanager answered and what it said."""


@dataclass(frozen=True)
class Silence:
    id: str
    alertname: str
    team: str | None
    ends: dt.datetime
    created_by: str
    comment: str
    outcome: Literal["created", "extended", "kept"] = "created"
    """``extended``: the member's earlier acknowledgement of the same labels now lasts
    longer; ``kept``: it already lasted as long, and nothing changed."""


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
        """The acknowledgement: a silence on ``labels``, created by ``member``, until
        ``seconds`` after ``now``. When ``member`` already acknowledged ``labels`` and that
        silence is still active, it is that silence (a second POST of a link, a double tap,
        an SMS reply after the link): never a second one. It is extended when it would end
        over ``REPEAT_SLACK`` sooner, else kept as it is."""
        start = now or dt.datetime.now(dt.UTC)
        ends = start + dt.timedelta(seconds=seconds)
        matchers = [*(_matcher(k, v) for k, v in sorted(labels.items())), FIRST_TIER_KEPT]
        body: dict[str, Any] = {"matchers": matchers, "startsAt": start.isoformat(),
                                "endsAt": ends.isoformat(), "createdBy": member,
                                "comment": ack_comment(member, channel, note)}
        mine = self._acknowledgement_of(labels, member)
        if mine is not None:
            if _instant(mine["endsAt"]) >= ends - REPEAT_SLACK:
                return replace(_silence_of(mine), outcome="kept")
            # Alertmanager updates a silence in place when its matchers and start stay.
            body.update(id=mine["id"], startsAt=mine["startsAt"], comment=mine["comment"])
        data = self.call("post", "/api/v2/silences", json=body)
        return Silence(str(data["silenceID"]), labels.get("alertname", ""), labels.get("team"),
                       ends, member, str(body["comment"]),
                       "created" if mine is None else "extended")

    def _acknowledgement_of(self, labels: Mapping[str, str], member: str
                            ) -> dict[str, Any] | None:
        """``member``'s active acknowledgement whose matchers are exactly ``labels``."""
        wanted = sorted(labels.items())
        params = [("filter", matcher_text(k, v)) for k, v in wanted]
        for silence in self.call("get", "/api/v2/silences", params=params) or []:
            if (silence.get("status", {}).get("state") == "active"
                    and silence.get("createdBy") == member
                    and str(silence.get("comment", "")).startswith(COMMENT_PREFIX)
                    and len(silence.get("matchers", [])) == len(wanted) + 1
                    and FIRST_TIER_KEPT in silence.get("matchers", [])
                    and sorted(silence_labels(silence).items()) == wanted):
                return dict(silence)
        return None

    def acknowledged(self, labels: Mapping[str, str]) -> bool:
        """Whether an active acknowledgement covers an alert with ``labels``: its equality
        matchers all hold. The relay asks before it sends a page, since an acknowledgement
        leaves the first tier unmuted (``FIRST_TIER_KEPT``)."""
        return any(all(labels.get(k) == v for k, v in silence_labels(s).items())
                   for s in self.acknowledgements())

    def alerts(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """The alerts that match ``labels`` and have not resolved, silenced or not."""
        params = [("filter", matcher_text(k, v)) for k, v in sorted(labels.items())]
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


def matcher_text(name: str, value: str) -> str:
    """``name="value"`` as Alertmanager's ``filter`` parameter reads it: a ``"``, a ``\\``
    or a newline in the value escaped, which it would otherwise refuse with 400 (any other
    character, unicode too, goes as it is). A name outside Prometheus's classic characters
    (``service.name``) is quoted, as Alertmanager 0.27 and later read it; an older one
    refuses it with 400."""
    quoted = name if CLASSIC_NAME.fullmatch(name) else f'"{_escaped(name)}"'
    return f'{quoted}="{_escaped(value)}"'


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


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
    out = [_silence_of(item) for item in items
           if item.get("status", {}).get("state") == "active"
           and "alertname" in silence_labels(item)]
    return sorted(out, key=lambda s: s.ends, reverse=True)


def _silence_of(item: Mapping[str, Any]) -> Silence:
    equal = silence_labels(item)
    return Silence(str(item["id"]), equal.get("alertname", ""), equal.get("team"),
                   _instant(item["endsAt"]), str(item.get("createdBy", "")),
                   str(item.get("comment", "")))


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


FIRST_TIER_KEPT: dict[str, Any] = {"name": "tier", "value": "1", "isRegex": False,
                                   "isEqual": False}
"""Every acknowledgement's matcher ``tier!="1"``: the silence stops the later tiers but
leaves the first one unmuted, so that Alertmanager delivers its resolved notification.
Alertmanager records a muted resolve as never sent: the first tier of the next incident
of the same alert would look like the same alert still firing, and page no one until
``repeat_interval``. The relay drops the first tier's page itself while an acknowledgement
covers it (``Alertmanagers.acknowledged``). Alerts without tiers (warnings) match
``tier!="1"`` and are silenced as before."""


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
