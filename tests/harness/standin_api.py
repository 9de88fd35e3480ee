"""A loopback HTTP server standing in for a misbehaving RabbitMQ management API."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OVERVIEW = {"rabbitmq_version": "3.10.8", "erlang_version": "25.2", "cluster_name": "standin",
            "object_totals": {"connections": 1, "channels": 2, "consumers": 3, "queues": 2}}
GARBAGE = bytes(range(256)) * (4 * 1024 * 4)
"""4 MB that is not JSON (nor UTF-8)."""
NODES = [{"name": "rabbit@standin", "running": True, "mem_used": 100, "mem_limit": 1000,
          "mem_alarm": False, "disk_free": 5000, "disk_free_limit": 50,
          "disk_free_alarm": False, "fd_used": 10, "fd_total": 1024}]


class StandInAPI:
    """``mode`` says how /api/queues answers; /api/overview and /api/nodes answer well
    unless ``mode`` says every path misbehaves (``all:<mode>``)."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate, key) files to serve HTTPS with."""
        self.mode = "ok"
        self.queues: list[object] = [
            {"name": "q1", "vhost": "/", "messages_ready": 5, "messages_unacknowledged": 1,
             "consumers": 0}]
        self.requests: list[str] = []
        self.stop = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                api.requests.append(self.path)
                path = self.path.split("?")[0]
                mode = api.mode
                if mode.startswith("all:"):
                    mode = mode[4:]
                elif path != "/api/queues":
                    mode = "ok"
                body = {"/api/overview": OVERVIEW, "/api/nodes": NODES}.get(path, api.queues)
                api.answer(self, mode, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, mode: str, body: object) -> None:
        if mode == "silent":
            self.stop.wait(60)
            return
        if mode in ("401", "500"):
            self._send(handler, int(mode), b'{"error":"nope"}')
        elif mode == "not_json":
            self._send(handler, 200, b"<html>maintenance</html>")
        elif mode == "wrong_shape":
            self._send(handler, 200, b'{"queues": "not a list"}')
        elif mode == "huge":
            self._stream(handler, 300 * 1024 * 1024, b"[" + b" " * (1024 * 1024 - 1))
        elif mode == "endless":
            self._endless(handler)
        elif mode == "drip":
            self._drip(handler)
        elif mode == "drip_headers":
            self._drip_headers(handler)
        elif mode == "silent_body":
            self._silent_body(handler)
        elif mode == "truncated":
            self._truncated(handler)
        elif mode == "garbage":
            self._send(handler, 200, GARBAGE)
        else:
            self._send(handler, 200, json.dumps(body).encode())

    def _send(self, handler: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _stream(self, handler: BaseHTTPRequestHandler, length: int, chunk: bytes) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        sent = 0
        try:
            while sent < length and not self.stop.is_set():
                handler.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass

    def _endless(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            handler.wfile.write(b"1\r\n[\r\n")
            while not self.stop.is_set():  # as fast as the client reads, forever
                handler.wfile.write(b"10000\r\n" + b" " * 65536 + b"\r\n")
        except OSError:
            pass

    def _drip(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            while not self.stop.is_set():
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass

    def _drip_headers(self, handler: BaseHTTPRequestHandler) -> None:
        """A status line, then a header that never ends: one byte every 0.3 s."""
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self.stop.is_set():
                handler.wfile.flush()
                time.sleep(0.3)
                handler.wfile.write(b"a")
        except OSError:
            pass
        handler.close_connection = True

    def _silent_body(self, handler: BaseHTTPRequestHandler) -> None:
        """Headers that announce a body, then silence."""
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.flush()
        self.stop.wait(60)
        handler.close_connection = True

    def _truncated(self, handler: BaseHTTPRequestHandler) -> None:
        """Announces 8 MB, sends 4 MB, hangs up."""
        handler.send_response(200)
        handler.send_header("Content-Length", str(8 * 1024 * 1024))
        handler.end_headers()
        with contextlib.suppress(OSError):
            handler.wfile.write(b"[" + b"1," * (2 * 1024 * 1024 - 1))
        handler.close_connection = True

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
