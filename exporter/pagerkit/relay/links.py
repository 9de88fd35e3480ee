"""Signed acknowledgement links: who was paged for which alert group, on which channel, and
for which incident of it.

The token is itsdangerous's URL-safe timed serializer (HMAC with the relay's key, a
timestamp): a forged or altered token, or one older than the link's lifetime, acknowledges
nothing. It names the incident by its start, so that an old link, or one posted in the
team's chat, cannot silence a later incident of the same alert. It is kept short because
it rides in an SMS: the start is written as seconds before the link's own timestamp.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from .texts import CHANNEL_CODES

_CHANNELS = {code: name for name, code in CHANNEL_CODES.items()}


class BadLink(Exception):
    """Forged, altered or expired: the message says which, for the page."""


@dataclass(frozen=True)
class AckTarget:
    member: str
    channel: str
    labels: dict[str, str]
    """The silence's labels: the alertname and the team."""
    started: int | None = None
    """When the paged incident started (Unix seconds): the earliest ``startsAt`` of the
    group's firing alerts. None in a link that names no incident."""
    signed_at: int | None = field(default=None, compare=False)
    """When the link was made; it stands for ``started`` when that is None."""

    def goes_on(self, alerts: Iterable[Mapping[str, Any]]) -> bool:
        """Whether the paged incident still fires: one of ``alerts`` (what fires now for
        the labels) fired already when it started. Every alert of a later incident started
        after this one ended, so none of them is that old."""
        since = self.started if self.started is not None else self.signed_at
        if since is None:
            return any(True for _ in alerts)
        return any(int(start_of(a).timestamp()) <= since for a in alerts)


def start_of(alert: Mapping[str, Any]) -> dt.datetime:
    """An alert's ``startsAt``, as Alertmanager's API gives it."""
    return dt.datetime.fromisoformat(str(alert["startsAt"]).replace("Z", "+00:00"))


class LinkSigner:
    def __init__(self, key: str, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.key, self.ttl, self.clock = key, ttl, clock

    def token(self, target: AckTarget) -> str:
        now = int(self.clock())
        payload: list[str | int] = [target.member, CHANNEL_CODES[target.channel],
                                    target.labels.get("alertname", ""),
                                    target.labels.get("team", "")]
        if target.started is not None:
            payload.append(now - target.started)
        return str(self._serializer(lambda: now).dumps(payload))

    def target(self, token: str) -> AckTarget:
        """The target a token names; ``BadLink`` when forged or expired."""
        try:
            payload, signed = self._serializer(self.clock).loads(
                token, max_age=int(self.ttl), return_timestamp=True)
        except SignatureExpired:
            raise BadLink("this acknowledgement link has expired") from None
        except BadSignature:
            raise BadLink("this acknowledgement link is not valid") from None
        if not _well_formed(payload):
            raise BadLink("this acknowledgement link is not valid")
        member, code, alertname, team, *age = payload
        labels = {"alertname": alertname, **({"team": team} if team else {})}
        at = int(signed.timestamp())
        return AckTarget(member, _CHANNELS[code], labels, at - age[0] if age else None, at)

    def _serializer(self, clock: Callable[[], float]) -> URLSafeTimedSerializer:
        class ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        return URLSafeTimedSerializer(self.key, salt="pagerkit-ack", signer=ClockSigner)


def _well_formed(payload: Any) -> bool:
    """Four strings (a link of an older relay) or four and the start's age in seconds."""
    return (isinstance(payload, list) and len(payload) in (4, 5)
            and all(isinstance(p, str) for p in payload[:4]) and payload[1] in _CHANNELS
            and all(isinstance(p, int) and not isinstance(p, bool) for p in payload[4:]))
