"""The exporter's WSGI app: ``/metrics``, a landing page and the playbooks, with the web
config's basic auth. Served by ``pagerkit.serving`` (Hypercorn), on executor threads, so
one slow collection never delays another scrape."""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import logging
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
    """Checks ``basic_auth_users`` (bcrypt). Verified credentials are cached, and one
    bcrypt check runs at a time: a flood of wrong passwords gets 429, not every CPU."""

    CACHE_SIZE = 64

    def __init__(self, users: Iterable[tuple[str, bytes]]) -> None:
        self._users = dict(users)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._checking = threading.Lock()

    def check(self, header: str | None) -> int:
        """200 when allowed, 401 when not, 429 when another check is running."""
        user, password = _credentials(header)
        hashed = self._users.get(user or "")
        if user is None or password is None or hashed is None:
            return 401
        key = hashlib.sha256(b"\0".join([user.encode(), password, hashed])).digest()
        if key in self._verified:
            return 200
        if not self._checking.acquire(blocking=False):
            return 429
        try:
            ok = bcrypt.checkpw(password, hashed)
        finally:
            self._checking.release()
        if ok:
            self._verified[key] = None
            while len(self._verified) > self.CACHE_SIZE:
                self._verified.popitem(last=False)
        return 200 if ok else 401


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
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        is_playbook = self.playbooks is not None and path.startswith("/playbooks")
        if path not in ("/", "/metrics") and not is_playbook:
            return self._reply(start_response, "404 Not Found", b"not found\n")
        if method not in ("GET", "HEAD"):
            return self._reply(start_response, "405 Method Not Allowed", b"use GET\n",
                               [("Allow", "GET, HEAD")])
        if self.auth is not None:
            status = self.auth.check(environ.get("HTTP_AUTHORIZATION"))
            if status == 401:
                return self._reply(start_response, "401 Unauthorized", b"unauthorized\n",
                                   [("WWW-Authenticate", 'Basic realm="pagerkit"')])
            if status == 429:
                return self._reply(start_response, "429 Too Many Requests", b"busy\n",
                                   [("Retry-After", "1")])
        if path == "/":
            return self._reply(start_response, "200 OK", self._landing(),
                               [("Content-Type", "text/html; charset=utf-8")])
        if path == "/playbooks":  # the index's relative links need the slash
            return self._reply(start_response, "301 Moved Permanently", b"",
                               [("Location", "/playbooks/")])
        if is_playbook and self.playbooks is not None:
            page = self.playbooks.page(path.removeprefix("/playbooks").lstrip("/"))
            if page is None:
                return self._reply(start_response, "404 Not Found", b"no such playbook\n")
            return self._reply(start_response, "200 OK", page,
                               [("Content-Type", "text/html; charset=utf-8")])
        return self._metrics(environ, start_response)

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
