"""The other relays of an HA set: one relay stands beside each Alertmanager peer, and they
tell each other what they send and which heartbeat they heard.

Alertmanager's cluster makes one peer send each notification and the next one take over
when the first fails. A relay that sent a page but died before it answered makes the next
peer send it again, through the next relay: so before a page goes out, a relay asks its
peers (``claim``) and skips a page a live peer already sent. The answers:

- ``sent``: the peer sent it; this relay does not.
- ``sending``: the peer is sending it now. The relay with the lower name goes on, the other
  waits for its outcome (at most ``PEER_WAIT``).
- ``free``: nobody had it; it is now this relay's, and the peer will wait for it.

A peer that does not answer never holds a page back: a possible duplicate beats a lost
page. After the send, the relay tells its peers (``sent``, or ``release`` on a failure),
all at once, before anything else.

A relay that was down or cut off when a peer sent a page missed the ``sent``, and a relay
that restarted forgot what it sent. Yet the Alertmanager peer beside it, whose attempt
failed, retries the page through it for the rest of the group's interval, and by then the
relay that knows may be gone too. So when a peer answers a poll for the first time, or
again after it did not, this relay asks it for the pages it holds as sent (``pages``) and
holds them as sent too: at its start (``RelayApp.start`` polls at once, and pages wait for
it) and whenever a peer comes back.

One window is left and cannot be closed: a relay whose page the provider took, and which
died before its peers heard ``sent``. Pushover, Twilio and Vonage take no idempotency key,
so a page in flight when its relay died cannot be told from one that never left: the next
relay sends it again.

Every ``peer_interval`` each relay also polls its peers' state: their name, the last
heartbeat they heard and whether they told people the pipeline is down (``heartbeat``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from ..secrets import Secret
from .config import Peering
from .memory import MINE, Holder, SentPages
from .metrics import RelayMetrics

log = logging.getLogger("pagerkit.relay")

PEER_WAIT = 5.0
"""How long a page waits for a peer relay that is sending it. Alertmanager gives a webhook
10 s at least (its notify.MinTimeout) before it calls the attempt failed: the relay answers
well before, and sends the page itself if the peer has not finished by then."""
POLL_STEP = 0.1
PAGES_HORIZON = 3600.0
"""How far back the pages a relay tells a peer it holds as sent go: Alertmanager retries a
failed notification within its group's interval (minutes), and its later flushes find the
page in the cluster's notification log."""

SEND, DUPLICATE, PEER_SENT = "send", "duplicate", "peer_sent"


@dataclass(frozen=True)
class PeerState:
    """What one peer relay said at its last poll; ``seen_at`` is when it last answered."""

    url: str
    up: bool
    seen_at: float | None = None
    name: str | None = None
    heartbeat: float | None = None
    alarm: bool = False
    playbook: str | None = None


def page_key(dedup_key: tuple[Any, ...]) -> tuple[str, str]:
    """The key relays exchange for a page: a digest of its duplicate filter's key, which
    is the same on every relay (Alertmanager's group key, the member, the channel and the
    alerts' starts) and says nothing of the alert."""
    text = json.dumps(dedup_key, sort_keys=True, default=str)
    return ("page", hashlib.sha256(text.encode()).hexdigest())


class Peers:
    """This relay's side of the exchange (``claim``, ``sent``, ``failed``, ``poll``) and its
    answers to the peers (``answer``). ``auth`` is the webhook's basic auth: every relay of
    the set has the same, and asks its peers with it."""

    def __init__(self, peering: Peering, auth: tuple[str, Secret] | None, sent: SentPages,
                 metrics: RelayMetrics, clock: Callable[[], float] = time.time) -> None:
        self.name, self.urls, self.timeout = peering.name, peering.peers, peering.timeout
        self.auth, self.sent, self.metrics, self.clock = auth, sent, metrics, clock
        self.started = clock()
        self._lock = threading.Lock()
        self._states = {url: PeerState(url, False) for url in self.urls}
        for url in self.urls:
            metrics.peer_up.labels(url).set(0)

    # --- pages ---------------------------------------------------------------------------

    def claim(self, key: tuple[Any, ...]) -> str:
        """``SEND`` when this relay is to send the page (it now holds it), ``DUPLICATE``
        when it sent or is sending it itself, ``PEER_SENT`` when a peer relay sent it."""
        held = self.sent.holder(key)
        if held is not None and held.name == MINE:
            return DUPLICATE
        if held is not None and held.sent:
            return PEER_SENT
        if held is not None:  # a peer was told it may send it: its outcome decides
            if self._wait_for(self._url_of(held.name), key) == PEER_SENT:
                return PEER_SENT
            self.sent.record(key, Holder(MINE, False))
        elif not self.sent.claim(key):
            return DUPLICATE
        for url in self.urls:
            answer = self._ask(url, "claim", key)
            if answer is None or answer.get("state") == "free":
                continue
            holder = str(answer.get("holder", ""))
            if answer.get("state") == "sent" or (
                    holder < self.name and self._wait_for(url, key) == PEER_SENT):
                self.sent.record(key, Holder(holder or url, True))
                return PEER_SENT
        return SEND

    def sent_ok(self, key: tuple[Any, ...]) -> None:
        """The provider took the page: held as sent here and at every peer. Called first
        thing after the provider's answer: until the peers hear it, a relay that dies here
        leaves a page that the next one sends again."""
        self.sent.record(key, Holder(MINE, True))
        self._tell("sent", key)

    def failed(self, key: tuple[Any, ...]) -> None:
        """The send failed: Alertmanager retries it, here or through a peer."""
        self.sent.release(key)
        self._tell("release", key)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """A peer relay's ``claim``, ``sent`` or ``release`` of a page, or its question
        which pages this relay holds as sent (``pages``)."""
        peer, op = str(body.get("from", "")), body.get("op")
        key = ("page", str(body.get("key", "")))
        if not peer or peer == MINE:
            return {"error": "no from"}
        if op == "sent":
            self._heard_sent(key, peer)
            return {"state": "ok", "name": self.name}
        if op == "release":
            held = self.sent.holder(key)
            if held is not None and held.name == peer and not held.sent:
                self.sent.record(key, None)
            return {"state": "ok", "name": self.name}
        if op == "pages":
            return {"state": "ok", "name": self.name, "sent": [
                [k[-1], held.name or self.name]
                for k, held in self.sent.sent_since(PAGES_HORIZON) if k[0] == "page"]}
        if op != "claim":
            return {"error": f"no such op: {str(op)[:40]}"}
        held = self.sent.answer(key, peer)
        if held is None:
            return {"state": "free", "name": self.name}
        return {"state": "sent" if held.sent else "sending", "name": self.name,
                "holder": held.name or self.name}

    def catch_up(self, url: str) -> None:
        """Hold as sent every page the peer at ``url`` holds as sent (``pages``)."""
        answer = self._post(url, {"op": "pages", "from": self.name})
        pages = answer.get("sent") if answer is not None else None
        if not isinstance(pages, list):
            return
        for page in pages:
            if isinstance(page, list) and len(page) == 2 and \
                    all(isinstance(part, str) for part in page):
                self._heard_sent(("page", page[0]), MINE if page[1] == self.name else page[1])

    def _heard_sent(self, key: tuple[Any, ...], holder: str) -> None:
        """A peer says ``holder`` sent the page; what this relay sent itself stays its own."""
        held = self.sent.holder(key)
        if held is None or not (held.name == MINE and held.sent):
            self.sent.record(key, Holder(holder, True))

    def _wait_for(self, url: str | None, key: tuple[Any, ...]) -> str | None:
        """Asks ``url`` about ``key`` until it has sent it (``PEER_SENT``), gave it up or
        stopped answering (None: this relay sends), or ``PEER_WAIT`` has passed (None)."""
        if url is None:
            return None
        deadline = time.monotonic() + PEER_WAIT
        while time.monotonic() < deadline:
            answer = self._ask(url, "claim", key)
            if answer is None or answer.get("state") == "free":
                return None
            if answer.get("state") == "sent":
                return PEER_SENT
            time.sleep(POLL_STEP)
        log.warning("relay %s was still sending a page after %ss: sending it here too", url,
                    PEER_WAIT)
        return None

    def _ask(self, url: str, op: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        return self._post(url, {"op": op, "key": key[-1], "from": self.name})

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = requests.post(f"{url}/-/peer/page", json=body, timeout=self.timeout,
                                     auth=self._auth())
            answer = response.json() if response.status_code == 200 else None
        except (requests.exceptions.RequestException, ValueError):
            return None
        if isinstance(answer, dict) and isinstance(answer.get("name"), str):
            self._learn(url, answer["name"])
            return answer
        return None

    def _tell(self, op: str, key: tuple[Any, ...]) -> None:
        """Every peer at once: one that is slow or gone does not hold back the others'
        news by its timeout."""
        if len(self.urls) == 1:
            self._ask(self.urls[0], op, key)
            return
        threads = [threading.Thread(target=self._ask, args=(url, op, key), daemon=True,
                                    name="peer-tell") for url in self.urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # --- their state ---------------------------------------------------------------------

    def poll(self) -> list[PeerState]:
        """Every peer's state, asked now; a peer that does not answer keeps what it said
        last (its last heartbeat still counts) and is marked down. A peer that answers for
        the first time, or again after it did not, is asked for the pages it sent."""
        for url in self.urls:
            state = self._state_of(url)
            with self._lock:
                old = self._states[url]
                self._states[url] = state or PeerState(
                    url, False, old.seen_at, old.name, old.heartbeat, False, old.playbook)
            self.metrics.peer_up.labels(url).set(1 if state else 0)
            if state is not None and not old.up:
                self.catch_up(url)
        return self.states()

    def states(self) -> list[PeerState]:
        with self._lock:
            return list(self._states.values())

    def _state_of(self, url: str) -> PeerState | None:
        try:
            response = requests.get(f"{url}/-/peer/state", timeout=self.timeout,
                                    auth=self._auth())
            data = response.json() if response.status_code == 200 else None
        except (requests.exceptions.RequestException, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        if data["name"] == self.name:
            log.warning("relay %s calls itself %s, as this relay does: give each relay of "
                        "the set its own name", url, self.name)
        beat = data.get("heartbeat")
        book = data.get("playbook")
        return PeerState(url, True, self.clock(), data["name"],
                         float(beat) if isinstance(beat, (int, float)) else None,
                         data.get("alarm") is True, book if isinstance(book, str) else None)

    def _learn(self, url: str, name: str) -> None:
        with self._lock:
            old = self._states.get(url)
            if old is not None and old.name != name:
                self._states[url] = PeerState(url, old.up, old.seen_at, name, old.heartbeat,
                                              old.alarm, old.playbook)

    def _url_of(self, name: str) -> str | None:
        with self._lock:
            return next((s.url for s in self._states.values() if s.name == name), None)

    def _auth(self) -> tuple[str, str] | None:
        return (self.auth[0], self.auth[1].reveal()) if self.auth else None
