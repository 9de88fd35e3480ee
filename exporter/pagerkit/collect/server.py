"""The exporter's WSGI app: ``/metrics``, a landing page and the playbooks, with the web
config's basic auth. Served by ``pagerkit.serving`` (Hypercorn), on executor threads, so
one slow collection never delays another scrape."""

from __future__ import annotations

import base64
import gzip
import hmac
import html
import ipaddress
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bcrypt
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric

from .. import __version__
from ..bundle.pages import PlaybookPages
from ..serving import StartResponse
from ..webconfig import WebConfig
from .engine import Engine
from .exposition import can_encode, encode_text

log = logging.getLogger("pagerkit.http")



class _Families:
    """What prometheus-client's encoders expect: something with ``collect()``."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class BasicAuth:
    """Checks ``basic_auth_users`` (bcrypt, about 70 ms a check at cost 10).

    Why each part is there:

    - verified credentials are cached (a keyed hash, never the password), so a scrape with
      the right password costs bcrypt once; wrong passwords never enter that cache, so no
      flood can evict it. Refused ones are cached too: repeating a guess costs nothing;
    - an unknown user is compared against a dummy hash of the users' cost, as
      exporter-toolkit does, so that timing does not tell which users exist;
    - at most ``SLOTS`` checks run at once (half the CPUs: collections keep the rest), at
      most ``PENDING`` are admitted to wait for them (the serving threads stay free), one
      per client address (a /64 for IPv6) and one per set of credentials (identical ones
      wait for its answer). A flood from one address therefore holds one place in the
      queue: a scraper elsewhere gets its turn within a few checks, and once verified it
      never waits again. What is not admitted is answered 429 at once.
    """

    VERIFIED_SIZE = 64
    REFUSED_SIZE = 4096
    SLOTS = max(1, (os.cpu_count() or 1) // 2)
    PENDING = 8
    WAIT_SECONDS = 5.0

    def __init__(self, users: Iterable[tuple[str, bytes]]) -> None:
        self._users = dict(users)
        self._dummy = dummy_hash(self._users.values())
        self._secret = os.urandom(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()  # guards the caches and the admissions below
        self._clients: set[str] = set()
        self._checking: dict[bytes, threading.Event] = {}
        self._slots = threading.BoundedSemaphore(self.SLOTS)

    def check(self, header: str | None, client: str = "") -> int:
        """200 when allowed, 401 when not, 429 when the checks are busy elsewhere."""
        user, password = _credentials(header)
        if user is None or password is None:
            return 401
        hashed = self._users.get(user)
        key = hmac.digest(self._secret, b"".join(
            b"%d:%s," % (len(part), part)
            for part in (user.encode(), password, hashed or self._dummy)), "sha256")
        known = self._known(key)
        if known is None:
            known = self._checked(key, password, hashed, client_of(client))
        if known is None:  # identical credentials may have been checked meanwhile
            known = self._known(key)
        if known is None:
            return 429
        return 200 if known else 401

    def _known(self, key: bytes) -> bool | None:
        """The cached verdict on these credentials, after waiting for a check of the same
        ones already under way; None when they must be checked."""
        with self._lock:
            running = self._checking.get(key)
        if running is not None:
            running.wait(self.WAIT_SECONDS)
        with self._lock:
            for cache, verdict in ((self._verified, True), (self._refused, False)):
                if key in cache:
                    cache.move_to_end(key)
                    return verdict
        return None

    def _checked(self, key: bytes, password: bytes, hashed: bytes | None,
                 client: str) -> bool | None:
        """bcrypt's verdict, remembered; None when not admitted or no slot came in time."""
        done = self._admitted(key, client)
        if done is None:
            return None
        try:
            if not self._slots.acquire(timeout=self.WAIT_SECONDS):
                return None
            try:
                ok = _bcrypt_matches(password, hashed or self._dummy) and hashed is not None
            finally:
                self._slots.release()
            self._remember(key, ok)
            return ok
        finally:
            with self._lock:
                self._clients.discard(client)
                del self._checking[key]
            done.set()

    def _admitted(self, key: bytes, client: str) -> threading.Event | None:
        """The event that tells waiters this check is done, or None when the check may not
        wait for a slot now (its client or these credentials already do, or too many do)."""
        with self._lock:
            if (key in self._checking or client in self._clients
                    or len(self._checking) >= self.PENDING):
                return None
            self._clients.add(client)
            done = self._checking[key] = threading.Event()
            return done

    def _remember(self, key: bytes, ok: bool) -> None:
        with self._lock:
            cache, size = ((self._verified, self.VERIFIED_SIZE) if ok
                           else (self._refused, self.REFUSED_SIZE))
            cache[key] = None
            while len(cache) > size:
                cache.popitem(last=False)


def _bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    """bcrypt refuses passwords over 72 bytes (bcrypt 5 raises): none can match."""
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        return False


def dummy_hash(hashes: Iterable[bytes]) -> bytes:
    """A hash of a random password at the users' highest cost: checking an unknown user
    against it takes as long as a wrong password for a known one."""
    costs = [int(h.split(b"$")[2]) for h in hashes if h.count(b"$") >= 3
             and h.split(b"$")[2].isdigit()]
    cost = min(max(costs, default=10), 31)
    return bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds=max(cost, 4)))


def client_of(address: str) -> str:
    """Who a client is, for fairness: its IPv4 address, or the /64 of its IPv6 address
    (one host commonly has a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _credentials(header: str | None) -> tuple[str | None, bytes | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except ValueError:
        return None, None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None, None
    return user.decode("utf-8", "replace"), password


def encode(families: list[Metric], accept: str) -> tuple[bytes, str]:
    """The body and its content type, as the scraper's ``Accept`` header asks."""
    encoder, content_type = choose_encoder(accept)
    if can_encode(families):
        if content_type.startswith("text/plain"):
            return encode_text(families), content_type
        if content_type.startswith("application/openmetrics-text"):
            return encode_text(families, openmetrics=True), content_type
    return encoder(_Families(families)), content_type


def scrape_timeout(environ: dict[str, Any]) -> float | None:
    """Prometheus's ``X-Prometheus-Scrape-Timeout-Seconds``, if present and sane."""
    try:
        value = float(environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS", ""))
    except ValueError:
        return None
    return value if 0 < value < 86400 else None


class MetricsApp:
    """The WSGI application: ``/`` lists the sources, ``/metrics`` collects and encodes."""

    def __init__(self, engine: Engine, web: WebConfig | None = None,
                 playbooks: Path | None = None) -> None:
        self.engine = engine
        self.auth = BasicAuth(web.basic_auth_users) if web and web.basic_auth_users else None
        self.headers = list(web.headers) if web else []
        self.playbooks = PlaybookPages(playbooks) if playbooks is not None else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> list[bytes]:
        """Every route answers HEAD as it answers GET (status, headers, Content-Length)
        without the body, whatever the server in front of it does with one. One empty
        chunk, not none: Hypercorn's WSGI wrapper sends the headers with the first chunk."""
        body = self._answer(environ, start_response)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else body

    def _answer(self, environ: dict[str, Any], start_response: StartResponse
                ) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        is_playbook = self.playbooks is not None and path.startswith("/playbooks")
        if path not in ("/", "/metrics") and not is_playbook:
            return self._reply(start_response, "404 Not Found", b"not found\n")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return self._reply(start_response, "405 Method Not Allowed",
                               b"use GET or HEAD\n", [("Allow", "GET, HEAD")])
        refused = self._refused(environ, start_response)
        if refused is not None:
            return refused
        if path == "/":
            return self._reply(start_response, "200 OK", self._landing(),
                               [("Content-Type", "text/html; charset=utf-8")])
        if path == "/metrics":
            return self._metrics(environ, start_response)
        return self._playbook(path, start_response)

    def _refused(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> list[bytes] | None:
        """The answer to a request the web config's basic auth refuses; None if allowed."""
        if self.auth is None:
            return None
        status = self.auth.check(environ.get("HTTP_AUTHORIZATION"),
                                 environ.get("REMOTE_ADDR", ""))
        if status == 401:
            return self._reply(start_response, "401 Unauthorized", b"unauthorized\n",
                               [("WWW-Authenticate", 'Basic realm="pagerkit"')])
        if status == 429:
            return self._reply(start_response, "429 Too Many Requests", b"busy\n",
                               [("Retry-After", "1")])
        return None

    def _playbook(self, path: str, start_response: StartResponse) -> list[bytes]:
        if path == "/playbooks":  # the index's relative links need the slash
            return self._reply(start_response, "301 Moved Permanently", b"",
                               [("Location", "/playbooks/")])
        assert self.playbooks is not None
        page = self.playbooks.page(path.removeprefix("/playbooks/"))
        if page is None:
            return self._reply(start_response, "404 Not Found", b"no such playbook\n")
        return self._reply(start_response, "200 OK", page,
                           [("Content-Type", "text/html; charset=utf-8")])

    def _metrics(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        families = self.engine.collect(scrape_timeout(environ))
        body, content_type = encode(families, environ.get("HTTP_ACCEPT", ""))
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        return self._reply(start_response, "200 OK", body, headers)

    def _reply(self, start_response: StartResponse, status: str, body: bytes,
               headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        headers = headers or [("Content-Type", "text/plain; charset=utf-8")]
        start_response(status, [*headers, *self.headers,
                                ("Content-Length", str(len(body)))])
        return [body]

    def _landing(self) -> bytes:
        rows = "".join(
            f"<tr><td>{html.escape(r.source.name)}</td><td>{html.escape(r.source.collector)}"
            f"</td><td>{html.escape(r.source.describe())}</td></tr>"
            for r in self.engine.runners)
        return (
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>pagerkit</title></head>"
            f"<body><h1>pagerkit {html.escape(__version__)}</h1>"
            "<p><a href=\"metrics\">metrics</a>"
            + (" · <a href=\"playbooks/\">playbooks</a>" if self.playbooks else "") + "</p>"
            "<table><thead><tr><th>source</th><th>collector</th><th>target</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></body></html>\n").encode()
