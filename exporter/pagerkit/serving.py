"""Serving HTTP for pagerkit's commands (the exporter and the relay): Hypercorn on its own
event-loop thread, in WSGI mode, with the web config's TLS.

Hypercorn bounds the TLS handshake and idle connections (measured in DESIGN.md: the
stock server lets one silent TLS client stall every scrape). The WSGI app runs on
Hypercorn's executor threads, so one slow request never delays the event loop.

Shutting down, requests in flight get ``SHUTDOWN_GRACE`` seconds to finish (answered with
``Connection: close``), then Hypercorn closes every connection within ``CLOSE_WAIT``.
Hypercorn alone waits its whole graceful timeout for a keep-alive connection whose client
sent its next request before the last one was recycled (that connection never wakes), and
on Python 3.11 asyncio logs each one it then cancels as an error with a traceback: so the
drain is ours, and those cancellations are dropped from the log while stopping.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
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
SHUTDOWN_GRACE = 5.0
"""Seconds the requests in flight at SIGTERM get to finish; under Docker's 10 s stop
timeout, and longer than a scrape of a healthy exporter by far."""
CLOSE_WAIT = 0.2
"""Seconds Hypercorn then waits for its connections before it cancels them."""


def hypercorn_config(host: str, port: int, web: WebConfig | None) -> HypercornConfig:
    config = _TLSConfig(web) if web is not None and web.tls is not None else HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.ssl_handshake_timeout = HANDSHAKE_TIMEOUT
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT
    config.accesslog = None
    config.errorlog = logging.getLogger("pagerkit.http")
    config.alpn_protocols = ["http/1.1"]
    config.backlog = 1024
    config.graceful_timeout = CLOSE_WAIT  # the grace itself is Server.stop's drain
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
    """Hypercorn on its own event-loop thread; ``stop()`` drains it, then shuts it down."""

    def __init__(self, app: Callable[..., Any], config: HypercornConfig) -> None:
        self.app = app
        self.config = config
        self._drain = _Drain(app)
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

    def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Let the requests in flight finish (``grace`` seconds at most), then close every
        connection; returns within about ``grace + CLOSE_WAIT`` seconds."""
        if not self._drain.finish(grace):
            log.warning("stopping with %d request(s) still in flight after %.0fs",
                        self._drain.in_flight, grace)
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=CLOSE_WAIT + 5)

    def wait(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_default_executor(ThreadPoolExecutor(WORKER_THREADS, "scrape"))
        self._loop.set_exception_handler(self._loop_error)
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

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Connections cancelled while stopping are expected (see the module's docstring);
        anything else goes to asyncio's own handler."""
        stopping = self._stopping is not None and self._stopping.is_set()
        if stopping and isinstance(context.get("exception"), asyncio.CancelledError):
            log.debug("closed a connection that was still open at shutdown")
            return
        loop.default_exception_handler(context)

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        sockets = self.config.create_sockets()  # binds now, so errors reach start()
        self._sockets = sockets
        self._ready.set()
        await serve(self._drain, self._bound(sockets), shutdown_trigger=self._stopping.wait,
                    mode="wsgi")
        self._drain.stopped = True
        await _close_leftovers()
        await self._drain.settle(CLOSE_WAIT)

    def _bound(self, sockets: Any) -> HypercornConfig:
        config = self.config
        config.create_sockets = lambda: sockets  # type: ignore[method-assign]
        return config

    @property
    def port(self) -> int:
        sockets = self._sockets.secure_sockets or self._sockets.insecure_sockets
        return int(sockets[0].getsockname()[1])


async def _close_leftovers() -> None:
    """Cancel what Hypercorn left running: a connection accepted as it stopped is not in
    the set it waits for, and the loop must not be closed under a pending task."""
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers, timeout=CLOSE_WAIT)


class _Drain:
    """The WSGI app, counting the requests in flight; once draining, every answer says
    ``Connection: close``, so a keep-alive client is not invited back."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._idle = threading.Condition()
        self.in_flight = 0
        self._draining = False
        self.stopped = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if self._draining:
                headers = [*headers, ("Connection", "close")]
            return start_response(status, headers, *exc_info)

        with self._idle:
            self.in_flight += 1
        try:
            body = self._app(environ, start)
        except BaseException:
            self._leave()
            raise
        return self._counted(body)

    def _counted(self, body: Iterable[bytes]) -> Iterator[bytes]:
        """The body, counted until Hypercorn has sent it (or closed it). Once the event
        loop has stopped, a body that is only now ready is dropped: Hypercorn would hand
        it to the stopped loop and wait for it forever, and the process with it."""
        try:
            for chunk in body:
                if self.stopped:
                    raise ConnectionAbortedError("the server stopped before the answer")
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            self._leave()

    def _leave(self) -> None:
        with self._idle:
            self.in_flight -= 1
            self._idle.notify_all()

    async def settle(self, seconds: float) -> None:
        """Keep the loop running while requests are in flight, ``seconds`` at most, so
        that what their threads already handed it is delivered."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while self.in_flight and loop.time() < until:
            await asyncio.sleep(0.01)

    def finish(self, grace: float) -> bool:
        """Wait until no request is in flight, ``grace`` seconds at most; whether it
        came to that."""
        with self._idle:
            self._draining = True
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout=grace)
