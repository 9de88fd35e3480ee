"""What the relay remembers, in memory and bounded: the pages it sent (the duplicate filter),
Twilio's callbacks it processed, and the SMS pages an SMS reply may acknowledge.

None of it matters after a restart for long: Alertmanager's retries come within minutes,
Twilio retries a callback within seconds, and an SMS reply applies to the last hour only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .links import AckTarget

MINE = ""
"""The holder of a page this relay claimed; a peer relay's claim is held under its name."""


@dataclass(frozen=True)
class Holder:
    """Who claimed a page: this relay (``MINE``) or a peer relay by name, and whether it was
    sent (else it is being sent, or the peer was told it may send it)."""

    name: str
    sent: bool


class SentPages:
    """The duplicate filter: a page's key is claimed before it is sent and released if the
    send fails, so a retry sends it then. Bounded, and forgotten after ``ttl``. Twilio's
    callbacks use one too, keyed by their MessageSid or CallSid.

    In an HA set the peer relays' claims are held here too (``answer``, ``record``), so
    that a page one relay sent is not sent again by another when Alertmanager's next peer
    retries it there."""

    def __init__(self, ttl: float = 86400.0, size: int = 10000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[tuple[Any, ...], tuple[float, Holder]] = OrderedDict()
        self._lock = threading.Lock()
        self.ttl, self.size, self.clock = ttl, size, clock

    def claim(self, key: tuple[Any, ...]) -> bool:
        """Claim ``key`` for this relay: False if anyone holds it already."""
        with self._lock:
            self._prune()
            if key in self._seen:
                return False
            self._seen[key] = (self.clock(), Holder(MINE, False))
            return True

    def release(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def holder(self, key: tuple[Any, ...]) -> Holder | None:
        with self._lock:
            held = self._seen.get(key)
        return held[1] if held else None

    def record(self, key: tuple[Any, ...], holder: Holder | None) -> None:
        """Hold ``key`` for ``holder`` (this relay's send went out, a peer's did, or a
        peer's claim is taken over); None forgets it."""
        with self._lock:
            self._prune()
            if holder is None:
                self._seen.pop(key, None)
            else:
                self._seen[key] = (self.clock(), holder)
                self._seen.move_to_end(key)

    def sent_since(self, age: float) -> list[tuple[tuple[Any, ...], Holder]]:
        """The pages held as sent, by this relay or a peer, that were recorded in the last
        ``age`` seconds, oldest first."""
        with self._lock:
            since = self.clock() - age
            return [(key, held) for key, (at, held) in self._seen.items()
                    if held.sent and at >= since]

    def answer(self, key: tuple[Any, ...], peer: str) -> Holder | None:
        """A peer relay asks to send ``key``: who holds it, or None when nobody did, and
        then it is the peer's (it may send; this relay waits for it). Atomic, so of two
        relays asking each other at once at least one sees the other's claim."""
        with self._lock:
            self._prune()
            held = self._seen.get(key)
            if held is not None and held[1].name != peer:
                return held[1]
            if held is not None and held[1].sent:
                return held[1]
            self._seen[key] = (self.clock(), Holder(peer, False))
            self._seen.move_to_end(key)
            return None

    def _prune(self) -> None:
        now = self.clock()
        while self._seen and (len(self._seen) >= self.size
                              or next(iter(self._seen.values()))[0] < now - self.ttl):
            self._seen.popitem(last=False)


class SmsPages:
    """The SMS pages sent to each member in the last ``window`` seconds: what their SMS
    reply acknowledges. An SMS reply names no alert, so it applies to these and to nothing
    else of the member's teams."""

    def __init__(self, window: float, clock: Callable[[], float] = time.time,
                 size: int = 100) -> None:
        self._sent: dict[str, list[tuple[float, AckTarget]]] = {}
        self._lock = threading.Lock()
        self.window, self.clock, self.size = window, clock, size

    def add(self, target: AckTarget) -> None:
        with self._lock:
            pages = self._sent.setdefault(target.member, [])
            pages.append((self.clock(), target))
            del pages[:-self.size]

    def recent(self, member: str) -> list[AckTarget]:
        """The member's SMS pages of the last ``window``, newest first."""
        since = self.clock() - self.window
        with self._lock:
            pages = [(at, t) for at, t in self._sent.get(member, []) if at >= since]
            self._sent[member] = pages
        return [target for _, target in reversed(pages)]
