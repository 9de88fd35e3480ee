"""JSON over HTTP under a total deadline and a size cap.

requests' ``timeout`` bounds each read, not the response: a body that drips one byte
every 0.9 s under ``timeout=2`` took 10.8 s here. So the body is read one socket read at
a time, the deadline checked between reads and each read's timeout set to what is left;
``abort`` shuts the socket from another thread. The session asks for an uncompressed
body (``Accept-Encoding: identity``), so the bytes counted against the cap are the bytes
parsed.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import requests
import urllib3

from .base import Clock, CollectError

CHUNK = 256 * 1024


class JsonFetcher:
    """One ``requests.Session`` per source; one request at a time."""

    def __init__(self, session: requests.Session, max_bytes: int, clock: Clock) -> None:
        self.session = session
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._current: urllib3.HTTPResponse | None = None

    def get(self, url: str, deadline: float, params: dict[str, str] | None = None) -> Any:
        """The decoded JSON document at ``url``; ``CollectError`` on any failure."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise CollectError("timeout", "the deadline passed before the request")
        try:
            response = self.session.get(url, params=params, stream=True,
                                        timeout=(remaining, remaining))
        except requests.exceptions.Timeout:
            raise CollectError("timeout", f"no answer within {remaining:.1f}s") from None
        except requests.exceptions.RequestException as exc:
            raise CollectError("connect", _reason(exc)) from None
        with response:
            _check_status(response)
            body = self._read(response, deadline)
        try:
            return json.loads(body)
        except ValueError as exc:  # also UnicodeDecodeError
            raise CollectError("decode", f"the response is not JSON: {exc}") from None

    def abort(self) -> None:
        with self._lock:
            current = self._current
        if current is not None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):  # already released
                current.shutdown()

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        raw: urllib3.HTTPResponse = response.raw
        with self._lock:
            self._current = raw
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise CollectError("timeout", f"the response was still arriving after "
                                                  f"{size} bytes")
                _set_read_timeout(raw, remaining)
                chunk = raw.read1(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise CollectError("too_large", f"the response exceeds max_response_bytes "
                                                    f"({self.max_bytes})")
                chunks.append(chunk)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise CollectError("timeout", f"the response stalled after {size} bytes") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if self._clock() >= deadline:
                raise CollectError("timeout", f"aborted after {size} bytes") from None
            raise CollectError("connect", f"the response broke off: {type(exc).__name__}"
                               ) from None
        finally:
            with self._lock:
                self._current = None
        return b"".join(chunks)


def _check_status(response: requests.Response) -> None:
    if response.status_code in (401, 403):
        raise CollectError("auth", f"HTTP {response.status_code}: check username and password "
                                   "and the user's monitoring tag")
    if response.status_code != 200:
        raise CollectError("http", f"HTTP {response.status_code} from {response.url}")


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
