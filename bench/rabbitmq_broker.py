"""The broker side of bench/rabbitmq_bench.py: a vhost full of queues, held in a known state.

A fresh vhost per size (created through the management API, deleted afterwards whatever
happened), the queues declared and filled over AMQP with pika, consumers that never ack
held open, and a wait until the management API, whose stats lag, reports all of it. Also
the broker's process (for its CPU) and the ``rabbitmq_prometheus`` plugin, enabled for the
run if it was not and disabled again after.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
import requests
from benchkit import BenchError, cpu_seconds, log, pid_of

PLUGIN = "rabbitmq_prometheus"


@dataclass(frozen=True)
class Workload:
    """The queues of one size, and what is in them.

    Every ``message_every``-th queue holds ``messages`` messages; every
    ``consumer_every``-th has one consumer with prefetch ``prefetch`` that never acks, so
    the queues that have both hold unacknowledged messages too.
    """

    queues: int
    prefix: str = "jobs.env-"
    message_every: int = 3
    messages: int = 3
    consumer_every: int = 5
    prefetch: int = 1

    def names(self) -> list[str]:
        return [f"{self.prefix}{i:05d}" for i in range(1, self.queues + 1)]

    def with_messages(self) -> list[str]:
        return self.names()[self.message_every - 1::self.message_every]

    def with_consumer(self) -> list[str]:
        return self.names()[self.consumer_every - 1::self.consumer_every]

    @property
    def consumers(self) -> int:
        return len(self.with_consumer())

    @property
    def unacked(self) -> int:
        both = set(self.with_messages()) & set(self.with_consumer())
        return len(both) * min(self.prefetch, self.messages)

    @property
    def ready(self) -> int:
        return len(self.with_messages()) * self.messages - self.unacked


class ManagementApi:
    """The management API, as the benchmark's admin (the same user pagerkit reads with)."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (username, password)
        self.session.trust_env = False
        self.username = username

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, timeout=120, **kwargs)
        except requests.RequestException as exc:
            raise BenchError(f"cannot reach the RabbitMQ management API at {self.url}: "
                             f"{type(exc).__name__}; is RabbitMQ running with the "
                             "rabbitmq_management plugin?") from None
        if response.status_code == 401:
            raise BenchError(f"{method} {path}: HTTP 401; wrong username or password for "
                             f"{self.username!r} (--username, --password)")
        if response.status_code == 403:
            raise BenchError(f"{method} {path}: HTTP 403; the user {self.username!r} needs "
                             "the administrator tag to create vhosts")
        if response.status_code >= 300:
            raise BenchError(f"{method} {path}: HTTP {response.status_code}: "
                             f"{response.text[:200]}")
        return response

    def json(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.call("GET", path, params=params).json()

    def close(self) -> None:
        self.session.close()


def vhost_path(vhost: str) -> str:
    return quote(vhost, safe="")


@contextlib.contextmanager
def bench_vhost(api: ManagementApi) -> Iterator[str]:
    """A fresh vhost the API user may use; deleted afterwards (its queues, messages and
    connections with it), whatever happened."""
    name = f"pagerkit-bench-{secrets.token_hex(4)}"
    api.call("PUT", f"/api/vhosts/{vhost_path(name)}")
    try:
        api.call("PUT", f"/api/permissions/{vhost_path(name)}/{quote(api.username, safe='')}",
                 json={"configure": ".*", "write": ".*", "read": ".*"})
        yield name
    finally:
        start = time.monotonic()
        api.call("DELETE", f"/api/vhosts/{vhost_path(name)}")
        log(f"deleted vhost {name} ({time.monotonic() - start:.1f}s)")


def amqp_connection(args: argparse.Namespace, vhost: str) -> Any:
    """A blocking connection without heartbeats: the consumers' connection is not serviced
    while the benchmark scrapes, and must not be dropped for that."""
    params = pika.ConnectionParameters(args.amqp_host, args.amqp_port, vhost,
                                       pika.PlainCredentials(args.username, args.password),
                                       heartbeat=0, blocked_connection_timeout=60)
    try:
        return pika.BlockingConnection(params)
    except pika.exceptions.AMQPError as exc:
        raise BenchError(f"cannot open an AMQP connection to {args.amqp_host}:"
                         f"{args.amqp_port} vhost {vhost}: {exc!r}") from None


def fill(args: argparse.Namespace, vhost: str, work: Workload) -> None:
    """Declare the queues and publish the messages, on a connection closed afterwards."""
    conn = amqp_connection(args, vhost)
    try:
        channel = conn.channel()
        for name in work.names():
            channel.queue_declare(name)
        for name in work.with_messages():
            for i in range(work.messages):
                channel.basic_publish("", name, f"job {i}".encode())
    finally:
        conn.close()


@contextlib.contextmanager
def consumers(args: argparse.Namespace, vhost: str, work: Workload) -> Iterator[None]:
    """The consumers, attached and held (never acking) until the block ends."""
    conn = amqp_connection(args, vhost)
    try:
        channel = conn.channel()
        channel.basic_qos(prefetch_count=work.prefetch)
        for name in work.with_consumer():
            channel.basic_consume(name, lambda *_: None)
        yield
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            conn.close()


def broker_state(api: ManagementApi, vhost: str) -> tuple[int, int, int, int]:
    """(queues, consumers, ready, unacked) in the vhost, as the management API says now."""
    queues = api.json(f"/api/queues/{vhost_path(vhost)}", {
        "columns": "name,messages_ready,messages_unacknowledged", "disable_stats": "true",
        "enable_queue_totals": "true"})
    found = api.json(f"/api/consumers/{vhost_path(vhost)}", {"columns": "queue.name"})
    return (len(queues), len(found),
            sum(int(q.get("messages_ready") or 0) for q in queues),
            sum(int(q.get("messages_unacknowledged") or 0) for q in queues))


def wait_for_state(api: ManagementApi, vhost: str, work: Workload,
                   timeout: float = 180.0) -> float:
    """Seconds until the management API reports every queue, consumer and message (its
    stats lag the broker by a few seconds)."""
    want = (work.queues, work.consumers, work.ready, work.unacked)
    start = time.monotonic()
    while (state := broker_state(api, vhost)) != want:
        if time.monotonic() - start > timeout:
            raise BenchError(f"after {timeout:g}s the management API reports (queues, "
                             f"consumers, ready, unacked) = {state} in {vhost}, not {want}")
        time.sleep(1)
    return time.monotonic() - start


def broker_pid() -> int:
    pid = pid_of("beam.smp", "rabbit")
    if pid is None:
        raise BenchError("no beam.smp process running RabbitMQ found on this machine; the "
                         "broker's CPU is read from /proc, so it must run here")
    return pid


def rabbitmq_plugins(*argv: str) -> str:
    binary = shutil.which("rabbitmq-plugins")
    if binary is None:
        raise BenchError("rabbitmq-plugins not found on PATH; it comes with RabbitMQ's "
                         "server package (run as root or the rabbitmq user)")
    done = subprocess.run([binary, *argv], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"rabbitmq-plugins {' '.join(argv)} failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout


@contextlib.contextmanager
def prometheus_plugin(url: str) -> Iterator[bool]:
    """rabbitmq_prometheus running and answering ``url``; yields whether it was enabled
    here, and if so disables it again on the way out, whatever happened."""
    enabled = PLUGIN in rabbitmq_plugins("list", "--enabled", "--minimal").split()
    if not enabled:
        log(f"enabling {PLUGIN} (disabled again at the end) ...")
        rabbitmq_plugins("enable", PLUGIN)
    try:
        wait_for_url(url)
        yield not enabled
    finally:
        if not enabled:
            rabbitmq_plugins("disable", PLUGIN)
            log(f"disabled {PLUGIN} again")


def wait_for_url(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=30).status_code == 200:
                return
        time.sleep(0.5)
    raise BenchError(f"{url} did not answer 200 within {timeout:g}s after enabling {PLUGIN}")


def idle_broker_ms_per_s(pid: int, seconds: float) -> float:
    """The broker's CPU while nobody scrapes it: queues emit stats, the management
    plugin aggregates them."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) * 1000 / seconds


