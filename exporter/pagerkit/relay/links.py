"""Signed acknowledgement links: who was paged for which alert group, on which channel.

The token is itsdangerous's URL-safe timed serializer (HMAC with the relay's key, a
timestamp): a forged or altered token, or one older than the link's lifetime, acknowledges
nothing. It is kept short because it rides in an SMS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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


class LinkSigner:
    def __init__(self, key: str, ttl: float, clock: Callable[[], float] = time.time) -> None:
        class ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self.ttl = ttl
        self._serializer = URLSafeTimedSerializer(key, salt="pagerkit-ack", signer=ClockSigner)

    def token(self, target: AckTarget) -> str:
        payload = [target.member, CHANNEL_CODES[target.channel],
                   target.labels.get("alertname", ""), target.labels.get("team", "")]
        return str(self._serializer.dumps(payload))

    def target(self, token: str) -> AckTarget:
        """The target a token names; ``BadLink`` when forged or expired."""
        try:
            payload = self._serializer.loads(token, max_age=int(self.ttl))
        except SignatureExpired:
            raise BadLink("this acknowledgement link has expired") from None
        except BadSignature:
            raise BadLink("this acknowledgement link is not valid") from None
        member, code, alertname, team = payload
        labels = {"alertname": alertname, **({"team": team} if team else {})}
        return AckTarget(member, _CHANNELS[code], labels)
