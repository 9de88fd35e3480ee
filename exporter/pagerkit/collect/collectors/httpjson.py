"""HTTP bodies (raw or JSON) under a total deadline and a size cap.

requests' ``timeout`` bounds each socket operation, not the exchange: a peer that sends
one header byte a second, or drips a TLS handshake or a body, resets it with every byte.
So the fetcher owns the socket from before ``connect`` (``_Line``), and ``abort()``, which
the engine calls at the source's deadline, shuts it down in whatever phase the exchange
is in (connect, TLS handshake, headers, body): the blocked call returns at once. A source
that uses the fetcher must pass its own ``abort()`` on to it. Every socket timeout is
also what is left of the deadline, so a silent peer ends the request by itself, and
between body reads the deadline is checked. (A timer per request would make the fetcher
cut itself, but starting its thread cost about 0.2 ms a request, 20% of a request to a
local management API.)

A body is refused before it is read when its announced ``Content-Length`` exceeds the
cap, and as soon as the bytes read exceed it otherwise (chunked, or a lying length). The
session asks for an uncompressed body (``Accept-Encoding: identity``), so the bytes
counted against the cap are the bytes parsed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from .base import Clock, CollectError

CHUNK = 256 * 1024
Params = dict[str, str] | list[tuple[str, str]] | None


class JsonFetcher:
    """One ``requests.Session`` per source; one request at a time."""

    def __init__(self, session: requests.Session, max_bytes: int, clock: Clock) -> None:
        self.session = session
        self.max_bytes = max_bytes
        self._clock = clock
        self._line = _Line()
        adapter = _LineAdapter(self._line)
        session.mount("http://", adapter)
        session.mount("https://", adapter)

    def get(self, url: str, deadline: float, params: Params = None) -> Any:
        """The decoded JSON document at ``url``; ``CollectError`` on any failure."""
        body = self.get_bytes(url, deadline, params)
        try:
            return json.loads(body)
        except ValueError as exc:  # also UnicodeDecodeError
            raise CollectError("decode", f"the response is not JSON: {exc}") from None

    def get_bytes(self, url: str, deadline: float, params: Params = None) -> bytes:
        """The raw body at ``url`` under the deadline and the size cap; ``CollectError``
        on any failure, so text formats share the JSON path's fault handling."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise CollectError("timeout", "the deadline passed before the request")
        self._line.open()
        try:
            return self._exchange(url, deadline, remaining, params)
        finally:
            self._line.close()

    def abort(self) -> None:
        """Shut the socket of the request in flight, in any phase (from another thread)."""
        self._line.cut()

    def _exchange(self, url: str, deadline: float, remaining: float, params: Params) -> bytes:
        try:
            response = self.session.get(url, params=params, stream=True,
                                        timeout=(remaining, remaining))
        except requests.exceptions.RequestException as exc:
            if self._expired(deadline) or isinstance(exc, requests.exceptions.Timeout):
                raise CollectError("timeout", f"no answer within {remaining:.1f}s "
                                              f"({self._line.phase})") from None
            raise CollectError("connect", _reason(exc)) from None
        with response:
            _check_status(response)
            _check_length(response, self.max_bytes)
            self._line.phase = "reading the body"
            return self._read(response.raw, deadline)

    def _expired(self, deadline: float) -> bool:
        return self._line.was_cut or self._clock() >= deadline

    def _read(self, raw: urllib3.HTTPResponse, deadline: float) -> bytes:
        """The body, one socket read at a time; on any failure the chunks read so far
        are dropped before the error leaves, so nothing keeps them alive."""
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise _Stop("timeout", f"the response was still arriving after "
                                           f"{size} bytes")
                _set_read_timeout(raw, remaining)
                chunk = raw.read1(CHUNK)
                if not chunk:
                    _check_complete(raw, size, self._line.was_cut)
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Stop("too_large", f"the response exceeds max_response_bytes "
                                             f"({self.max_bytes})")
                chunks.append(chunk)
        except _Stop as stop:
            failure = CollectError(stop.kind, stop.message)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            failure = CollectError("timeout", f"the response stalled after {size} bytes")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if self._expired(deadline):
                failure = CollectError("timeout", f"cut at the deadline after {size} bytes")
            else:
                failure = CollectError("connect", f"the response broke off after {size} "
                                                  f"bytes: {type(exc).__name__}")
        chunks.clear()
        raise failure


class _Stop(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Line:
    """The socket of the request in flight, as a duplicate descriptor of its own.

    The duplicate is taken before ``connect`` and survives the TLS wrapper (which
    detaches the socket it wraps), so ``cut`` can shut the connection down in any phase:
    a blocked connect, handshake or read returns at once. It is closed when the request
    ends, so a late ``cut`` never touches a pooled connection.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dup: socket.socket | None = None
        self.was_cut = False
        self.phase = "idle"

    def open(self) -> None:
        with self._lock:
            self.was_cut = False
            self.phase = "sending the request"

    def attach(self, sock: socket.socket, phase: str) -> None:
        dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with self._lock:
            old, self._dup = self._dup, dup
            self.phase = phase
            if self.was_cut:
                _shut(dup)
        if old is not None:
            old.close()

    def cut(self) -> None:
        with self._lock:
            self.was_cut = True
            if self._dup is not None:
                _shut(self._dup)

    def close(self) -> None:
        with self._lock:
            dup, self._dup = self._dup, None
            self.phase = "idle"
        if dup is not None:
            dup.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected yet, or already shut
        sock.shutdown(socket.SHUT_RDWR)


def _open_socket(conn: HTTPConnection, line: _Line) -> socket.socket:
    """A connected socket, attached to ``line`` before each connect so that ``cut`` ends
    a connect that hangs (a full backlog, a black-holed address) and no second address
    is tried after it; urllib3's own ``create_connection`` offers no such hook."""
    try:
        infos = socket.getaddrinfo(conn._dns_host, conn.port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    failure: OSError = OSError("no address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            line.attach(sock, "connecting")
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            failure = exc
            if line.was_cut:
                break
            continue
        line.phase = "in the TLS handshake" if isinstance(conn, HTTPSConnection) else \
            "sending the request"
        return sock
    if isinstance(failure, TimeoutError):
        raise ConnectTimeoutError(conn, f"connect timed out ({conn.timeout})")
    raise NewConnectionError(conn, f"Failed to establish a new connection: {failure}")


class _OnLine:
    """What both connection classes add: the socket is opened and attached to the line."""

    def __init__(self, *args: Any, line: _Line, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._line = line

    def _new_conn(self) -> socket.socket:
        assert isinstance(self, HTTPConnection)
        return _open_socket(self, self._line)

    def request(self, *args: Any, **kwargs: Any) -> None:
        assert isinstance(self, HTTPConnection)
        _attach_for_request(self, self._line)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _LineHTTPConnection(_OnLine, HTTPConnection):
    pass


class _LineHTTPSConnection(_OnLine, HTTPSConnection):
    pass


def _attach_for_request(conn: HTTPConnection, line: _Line) -> None:
    """A pooled connection's socket joins the line too (a new one is attached already
    by ``_open_socket``); from here on the wait is for the response."""
    if conn.sock is not None:
        line.attach(conn.sock, "waiting for the response headers")


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _LineHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _LineHTTPSConnection


class _LineAdapter(HTTPAdapter):
    """requests' adapter whose connections put their sockets on the fetcher's line;
    ``line`` travels to them as a pool keyword (a pool passes its extra keywords on to
    every connection it makes)."""

    def __init__(self, line: _Line) -> None:
        self._line = line
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": functools.partial(_HTTPPool, line=self._line),
            "https": functools.partial(_HTTPSPool, line=self._line),
        }


def _check_status(response: requests.Response) -> None:
    if response.status_code in (401, 403):
        raise CollectError("auth", f"HTTP {response.status_code}: check username and password "
                                   "and the user's monitoring tag")
    if response.status_code != 200:
        raise CollectError("http", f"HTTP {response.status_code} from {response.url}")


def _check_length(response: requests.Response, max_bytes: int) -> None:
    """Refuse an announced body beyond the cap before reading a byte of it."""
    announced = response.headers.get("Content-Length", "")
    if announced.strip().isdigit() and int(announced) > max_bytes:
        raise CollectError("too_large", f"the response announces {int(announced)} bytes, "
                                        f"more than max_response_bytes ({max_bytes})")


def _check_complete(raw: urllib3.HTTPResponse, size: int, was_cut: bool) -> None:
    """The end of the body is real: not the deadline's cut (a shut socket reads as the
    end) and not a peer that hung up before the length it announced."""
    if was_cut:
        raise _Stop("timeout", f"cut at the deadline after {size} bytes")
    announced = raw.headers.get("Content-Length", "")
    if announced.strip().isdigit() and size < int(announced):
        raise _Stop("connect", f"the response broke off after {size} of {int(announced)} "
                               "bytes")


def _set_read_timeout(raw: urllib3.HTTPResponse, seconds: float) -> None:
    connection = raw.connection
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.001, seconds))


def _reason(exc: requests.exceptions.RequestException) -> str:
    """The failure without the URL: requests quotes it, userinfo and all."""
    text = type(exc).__name__
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    if reason is not None:
        text += f": {type(reason).__name__}"
        errno_text = getattr(reason, "strerror", None) or str(reason).rpartition("] ")[2]
        if errno_text and "://" not in errno_text:
            text += f" ({errno_text})"
    return text
