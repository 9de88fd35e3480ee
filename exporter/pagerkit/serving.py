"""Serving HTTP for pagerkit's commands (the exporter and the relay): Hypercorn on its own
event-loop thread, in WSGI mode, with the web config's TLS.

Hypercorn bounds the TLS handshake and idle connections (measured in DESIGN.md: the
stock server lets one silent TLS client stall every scrape). The WSGI app runs on
Hypercorn's executor threads, so one slow request never delays the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from .webconfig import WebConfig

log = logging.getLogger("pagerkit.http")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
HANDSHAKE_TIMEOUT = 5.0
KEEP_ALIVE_TIMEOUT = 5.0
WORKER_THREADS = 16


def hypercorn_config(host: str, port: int, web: WebConfig | None) -> HypercornConfig:
    config = _TLSConfig(web) if web is not None and web.tls is not None else HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.ssl_handshake_timeout = HANDSHAKE_TIMEOUT
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT
    config.accesslog = None
    config.errorlog = logging.getLogger("pagerkit.http")
    config.alpn_protocols = ["http/1.1"]
    config.backlog = 1024
    return config


class _TLSConfig(HypercornConfig):
    """Hypercorn's TLS context, with the web config's client-certificate and version rules."""

    def __init__(self, web: WebConfig) -> None:
        super().__init__()
        assert web.tls is not None
        self._tls = web.tls
        self.certfile = str(web.tls.cert_file)
        self.keyfile = str(web.tls.key_file)
        if web.tls.client_ca_file is not None:
            self.ca_certs = str(web.tls.client_ca_file)
        self.verify_mode = web.tls.verify_mode

    def create_ssl_context(self):  # type: ignore[no-untyped-def]
        context = super().create_ssl_context()
        if context is not None:
            context.minimum_version = self._tls.min_version
            if self._tls.max_version is not None:
                context.maximum_version = self._tls.max_version
        return context


class Server:
    """Hypercorn on its own event-loop thread; ``stop()`` shuts it down gracefully."""

    def __init__(self, app: Callable[..., Any], config: HypercornConfig) -> None:
        self.app = app
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def start(self) -> None:
        """Start listening; raise ``OSError`` if the address cannot be bound."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def wait(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_default_executor(ThreadPoolExecutor(WORKER_THREADS, "scrape"))
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() or logged
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("HTTP server stopped")
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        sockets = self.config.create_sockets()  # binds now, so errors reach start()
        self._sockets = sockets
        self._ready.set()
        await serve(self.app, self._bound(sockets), shutdown_trigger=self._stopping.wait,
                    mode="wsgi")

    def _bound(self, sockets: Any) -> HypercornConfig:
        config = self.config
        config.create_sockets = lambda: sockets  # type: ignore[method-assign]
        return config

    @property
    def port(self) -> int:
        sockets = self._sockets.secure_sockets or self._sockets.insecure_sockets
        return int(sockets[0].getsockname()[1])
