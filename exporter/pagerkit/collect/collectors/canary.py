"""The AMQP round-trip canary: publish a message, consume it back, time it.

It notices what the management API cannot: a broker that answers HTTP but does not move
messages, including one that blocks publishers under a memory or disk alarm. pika's
defaults would stall a scrape (``stack_timeout`` 15 s, ``blocked_connection_timeout``
unset), so every wait here is bounded by the canary's own deadline.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import (
    AMQPConnectorException,
    AMQPConnectorStackTimeout,
)
from prometheus_client.metrics_core import Metric

from .base import Clock
from .rabbitmq_config import CANARY_QUEUE_PREFIX, CanaryConfig
from .rabbitmq_families import canary_families

log = logging.getLogger("pagerkit.canary")

FAILURE_KINDS = ("connect", "auth", "timeout", "blocked", "protocol")
_HEARTBEAT = 15  # seconds; a broker that hangs mid-RPC is detected by the heartbeat


@dataclass(frozen=True)
class RoundTrip:
    ok: bool
    seconds: float
    kind: str | None = None
    message: str = ""


class Canary:
    """One persistent AMQP connection with an exclusive, auto-deleting queue."""

    def __init__(self, source: str, config: CanaryConfig, clock: Clock) -> None:
        self.source = source
        self.config = config
        self._clock = clock
        self._conn: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._queue = ""
        self._blocked = False
        self._arrived: dict[str, float] = {}
        self._ids = itertools.count(1)
        self.failures = dict.fromkeys(FAILURE_KINDS, 0)
        self.last: RoundTrip | None = None
        self._busy = threading.Lock()

    def round_trip(self, deadline: float) -> RoundTrip | None:
        """Publish and consume one message before ``deadline``; never raises.

        ``None`` when the previous round trip is still running (pika's connection is not
        shared between threads): its result is reported when it ends.
        """
        if not self._busy.acquire(blocking=False):
            return None
        try:
            return self._round_trip(deadline)
        finally:
            self._busy.release()

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    def _round_trip(self, deadline: float) -> RoundTrip:
        try:
            result = self._attempt(deadline)
        except pika.exceptions.ProbableAuthenticationError:
            result = RoundTrip(False, math.nan, "auth", "the broker refused the credentials")
        except pika.exceptions.ConnectionBlockedTimeout:
            result = RoundTrip(False, math.nan, "blocked", "the broker blocked publishing")
        except AMQPConnectorStackTimeout:
            result = RoundTrip(False, math.nan, "timeout", "no AMQP handshake within the "
                                                           "timeout")
        except (pika.exceptions.AMQPConnectionError, AMQPConnectorException, OSError) as exc:
            result = RoundTrip(False, math.nan, "connect", type(exc).__name__)
        except Exception as exc:  # pika raises more than it documents; never the scrape's
            log.debug("source %s: canary error", self.source, exc_info=True)
            result = RoundTrip(False, math.nan, "protocol", type(exc).__name__)
        if not result.ok:
            assert result.kind is not None
            self.failures[result.kind] += 1
            self._drop()
        self._note(result)
        self.last = result
        return result

    def _attempt(self, deadline: float) -> RoundTrip:
        self._connect(deadline)
        assert self._conn is not None
        message_id = f"{os.getpid()}-{next(self._ids)}"
        start = self._clock()
        self._channel.basic_publish("", self._queue, str(start).encode(),
                                    pika.BasicProperties(message_id=message_id))
        while message_id not in self._arrived:
            remaining = deadline - self._clock()
            if remaining <= 0:
                kind = "blocked" if self._blocked else "timeout"
                return RoundTrip(False, math.nan, kind,
                                 "the broker blocked publishing" if self._blocked else
                                 f"the message did not come back within "
                                 f"{self.config.timeout:g}s")
            self._conn.process_data_events(time_limit=remaining)
        seconds = self._arrived.pop(message_id) - start
        self._arrived.clear()
        return RoundTrip(True, seconds)

    def _connect(self, deadline: float) -> None:
        if self._conn is not None and self._conn.is_open:
            return
        remaining = max(0.1, deadline - self._clock())
        params = pika.URLParameters(self.config.url.reveal())
        params.socket_timeout = remaining
        params.stack_timeout = remaining
        params.blocked_connection_timeout = max(1.0, self.config.timeout)
        params.connection_attempts = 1
        params.heartbeat = _HEARTBEAT
        params.client_properties = {"connection_name": f"pagerkit canary {self.source}"}
        conn = pika.BlockingConnection(params)
        self._conn = conn
        self._blocked = False
        conn.add_on_connection_blocked_callback(self._on_blocked)
        conn.add_on_connection_unblocked_callback(self._on_unblocked)
        channel = conn.channel()
        # A new name per connection: the broker may still hold a dropped connection's
        # exclusive queue (it notices a blocked peer late), and redeclaring it would fail.
        self._queue = (f"{CANARY_QUEUE_PREFIX}{socket.gethostname()}.{os.getpid()}."
                       f"{next(self._ids)}")
        channel.queue_declare(self._queue, exclusive=True, auto_delete=True,
                              arguments={"x-max-length": 100})
        channel.basic_consume(self._queue, self._on_message, auto_ack=True)
        self._channel = channel

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        if properties.message_id:
            self._arrived[properties.message_id] = self._clock()

    def _on_blocked(self, connection: Any, frame: Any) -> None:
        self._blocked = True

    def _on_unblocked(self, connection: Any, frame: Any) -> None:
        self._blocked = False

    def _drop(self) -> None:
        """Forget the connection without a Close handshake: a blocked broker would not
        read it, and ``close()`` would wait."""
        conn, self._conn, self._channel = self._conn, None, None
        self._arrived.clear()
        if conn is None:
            return
        transport = getattr(getattr(conn, "_impl", None), "_transport", None)
        with contextlib.suppress(Exception):  # any state: it is being thrown away
            if transport is not None:
                transport.abort()
            else:
                conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(Exception):
                conn.close()

    def _note(self, result: RoundTrip) -> None:
        previous = self.last
        if previous is not None and previous.ok == result.ok and previous.kind == result.kind:
            return
        if result.ok:
            if previous is not None:
                log.info("source %s: canary round trips again", self.source)
        else:
            log.warning("source %s: canary failed (%s: %s)", self.source, result.kind,
                        result.message)

    def families(self, overdue: bool = False) -> list[Metric]:
        """The last round trip's result; ``overdue`` when one ran past the deadline."""
        last = None if overdue else self.last
        return canary_families(self.source, last.seconds if last and last.ok else None,
                               self.failures)
