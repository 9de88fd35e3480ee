"""Misbehaving network peers for fault tests: a silent listener and a freezable proxy."""

from __future__ import annotations

import contextlib
import socket
import threading


class SilentPeer:
    """Accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class FreezableProxy:
    """Relays TCP to an upstream; ``freeze()`` stops relaying bytes both ways (the
    connections stay open, as with a peer whose host has hung), ``thaw()`` resumes."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._running = threading.Event()
        self._running.set()
        self._closed = False
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._running.clear()

    def thaw(self) -> None:
        self._running.set()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.sock.accept()
                threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        self._running.wait()
        if self._closed:
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._conns += [client, upstream]
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                self._running.wait()
                if not data or self._closed:
                    break
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._running.set()
        self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


class FaultyFront:
    """A TCP front for an upstream server that misbehaves at one phase of a connection
    until ``behave()``, then relays every connection (the held ones too) to the upstream.

    ``fault``: ``backlog`` (the accept queue is full, so a connect hangs in SYN_SENT and
    nothing is ever accepted), ``silent`` (accepts and says nothing), ``drip`` (accepts,
    sends ``drip`` one byte every ``interval`` seconds: a TLS record that never ends).
    """

    def __init__(self, upstream_port: int, fault: str, drip: bytes = b"",
                 interval: float = 0.3) -> None:
        self.upstream_port = upstream_port
        self.fault = fault
        self.drip = drip
        self.interval = interval
        self.behaving = threading.Event()
        self.closed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = int(self.sock.getsockname()[1])
        self._conns: list[socket.socket] = []
        if fault == "backlog":
            self._conns += fill_backlog(self.port)
        threading.Thread(target=self._accept, daemon=True).start()

    def behave(self) -> None:
        if self.fault == "backlog":
            # Room in the accept queue at once: a SYN dropped while the fillers are still
            # being accepted would be sent again only after Linux's 1 s retransmission.
            self.sock.listen(128)
        self.behaving.set()

    def _accept(self) -> None:
        if self.fault == "backlog":
            self.behaving.wait()
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.sock.accept()
                self._conns.append(client)
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if not self.behaving.is_set() and self.fault == "drip":
            with contextlib.suppress(OSError):
                for byte in self.drip:
                    if self.behaving.wait(self.interval) or self.closed.is_set():
                        return  # a connection that was dripped to stays broken
                    client.sendall(bytes([byte]))
            return
        if not self.behaving.is_set():
            self.closed.wait()  # silent
            return
        with contextlib.suppress(OSError):
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._conns.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


def fill_backlog(port: int) -> list[socket.socket]:
    """Connections that fill a ``listen(0)`` socket's accept queue, so that the next
    connect to it hangs (Linux drops a SYN while the queue is full)."""
    fillers: list[socket.socket] = []
    while len(fillers) < 16:
        filler = socket.socket()
        filler.settimeout(0.3)
        fillers.append(filler)
        try:
            filler.connect(("127.0.0.1", port))
        except TimeoutError:
            return fillers
    raise RuntimeError("the accept queue never filled")


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    for s in (src, dst):
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)


TLS_RECORD_DRIP = b"\x16\x03\x03\x40\x00" + b"\x02" * 200
"""The start of a TLS handshake record that announces 16 KB and never completes."""
