#!/usr/bin/env python3
"""Example traffic for the CI platform: jobs arrive, workers run them.

    python examples/generate_jobs.py --dsn "host=127.0.0.1 dbname=ci user=postgres" \\
        --amqp amqp://guest:guest@127.0.0.1:5672/ci --create --seed 10000 --stall env-03

``--create`` applies examples/jobs.sql (and, with ``--amqp``, creates the vhost through
the management API on port 15672 and declares the queues); ``--seed N`` inserts N
finished jobs of the past day at once. Then, until ``--duration`` runs out (forever by
default), jobs arrive at ``--rate`` per second over ``--queues`` queues, each a row in
``jobs`` and, with ``--amqp``, a message on the queue ``jobs.<queue>``. Workers take the
oldest queued job (from RabbitMQ when it is used, else from the table), run it for a
moment and finish it; 9 in 10 succeed. A queue named by ``--stall`` gets jobs but no
worker (and no consumer), from the start or after ``--stall-after`` quiet seconds: its
backlog grows and its oldest queued job ages, which is what the alerts watch for.
``--rate 0`` only creates and seeds, then exits. Ctrl-C or SIGTERM stops the traffic.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pika
import psycopg
import requests

HERE = Path(__file__).resolve().parent

SEED_SQL = """
INSERT INTO jobs (queue, state, created_at, started_at, finished_at)
SELECT %(prefix)s || lpad((1 + g %% %(queues)s)::text, 2, '0'),
       CASE WHEN random() < 0.1 THEN 'failed' ELSE 'succeeded' END,
       t, t + interval '5 seconds', t + interval '65 seconds'
FROM generate_series(1, %(n)s) g,
     LATERAL (SELECT now() - interval '1 day' * random() AS t) s
"""

TAKE_SQL = """
UPDATE jobs SET state = 'running', started_at = now()
WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND NOT queue = ANY(%(stalled)s)
            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""


class Platform:
    """The table, and optionally the broker, moving together."""

    def __init__(self, conn: psycopg.Connection, args: argparse.Namespace) -> None:
        self.conn = conn
        self.args = args
        self.queues = [f"{args.prefix}{i:02d}" for i in range(1, args.queues + 1)]
        self.to_stall = list(args.stall or [])
        self.stall_at = time.monotonic() + args.stall_after
        self.stalled: list[str] = [] if args.stall_after > 0 else list(self.to_stall)
        self.consumers: dict[str, str] = {}  # queue -> consumer tag
        self.running: list[tuple[float, int, int | None]] = []  # (finish at, job, tag)
        self.delivered: list[tuple[int, int]] = []  # (job, delivery tag)
        self.channel = None
        if args.amqp:
            self.channel = pika.BlockingConnection(pika.URLParameters(args.amqp)).channel()
            for queue in self.queues:
                self.channel.queue_declare(f"jobs.{queue}", durable=True)
            self.channel.basic_qos(prefetch_count=args.workers)
            for queue in self.queues:
                if queue not in self.stalled:
                    self.consumers[queue] = self.channel.basic_consume(f"jobs.{queue}",
                                                                       self._on_message)

    def _on_message(self, channel: object, method: object, properties: object,
                    body: bytes) -> None:
        self.delivered.append((int(body), method.delivery_tag))  # type: ignore[attr-defined]

    def arrive(self) -> None:
        queue = random.choice(self.queues)
        row = self.conn.execute("INSERT INTO jobs (queue) VALUES (%s) RETURNING id",
                                (queue,)).fetchone()
        if self.channel is not None and row is not None:
            self.channel.basic_publish("", f"jobs.{queue}", str(row[0]).encode(),
                                       pika.BasicProperties(delivery_mode=2))

    def stall_if_due(self, now: float) -> None:
        """After --stall-after seconds, the stalled queues' workers stop (and their
        consumers vanish from the broker)."""
        if now < self.stall_at or set(self.to_stall) <= set(self.stalled):
            return
        for queue in self.to_stall:
            if queue in self.consumers and self.channel is not None:
                self.channel.basic_cancel(self.consumers.pop(queue))
            self.stalled.append(queue)
            print(f"queue {queue}: its workers stop; jobs keep arriving", flush=True)

    def work(self, now: float) -> None:
        self.stall_if_due(now)
        for item in [r for r in self.running if r[0] <= now]:
            outcome = "failed" if random.random() < 0.1 else "succeeded"
            self.conn.execute("UPDATE jobs SET state = %s, finished_at = now() WHERE id = %s",
                              (outcome, item[1]))
            if self.channel is not None and item[2] is not None:
                self.channel.basic_ack(item[2])
            self.running.remove(item)
        if self.channel is not None:
            self.channel.connection.process_data_events(time_limit=0)
            for job, tag in self.delivered:
                self.conn.execute("UPDATE jobs SET state = 'running', started_at = now() "
                                  "WHERE id = %s", (job,))
                self.running.append((now + random.uniform(0.5, 3.0), job, tag))
            self.delivered.clear()
            return
        while len(self.running) < self.args.workers * (len(self.queues) - len(self.stalled)):
            row = self.conn.execute(TAKE_SQL, {"stalled": self.stalled}).fetchone()
            if row is None:
                break
            self.running.append((now + random.uniform(0.5, 3.0), row[0], None))


def run(platform: Platform, rate: float, duration: float) -> None:
    end = time.monotonic() + duration if duration else float("inf")
    tick = 0.1
    while time.monotonic() < end:
        expected = rate * tick  # arrivals per tick, on average
        for _ in range(int(expected) + (random.random() < expected % 1)):
            platform.arrive()
        platform.work(time.monotonic())
        time.sleep(tick)


def create_vhost(amqp_url: str) -> None:
    """The vhost of ``amqp_url``, through the management API on the same host."""
    parts = urlsplit(amqp_url)
    vhost = unquote(parts.path.lstrip("/")) or "/"
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    api = f"http://{parts.hostname}:15672/api"
    requests.put(f"{api}/vhosts/{quote(vhost, safe='')}", auth=auth,
                 timeout=10).raise_for_status()
    requests.put(f"{api}/permissions/{quote(vhost, safe='')}/{auth[0]}",
                 json={"configure": ".*", "write": ".*", "read": ".*"}, auth=auth,
                 timeout=10).raise_for_status()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--amqp", help="AMQP URL of the broker's vhost, such as "
                                       "amqp://guest:guest@127.0.0.1:5672/ci")
    parser.add_argument("--create", action="store_true", help="create table, vhost, queues")
    parser.add_argument("--seed", type=int, default=0, help="finished jobs to insert at once")
    parser.add_argument("--queues", type=int, default=4, help="number of queues")
    parser.add_argument("--prefix", default="env-", help="queue name prefix")
    parser.add_argument("--rate", type=float, default=2.0, help="new jobs per second")
    parser.add_argument("--workers", type=int, default=2, help="jobs running at once per queue")
    parser.add_argument("--stall", action="append", metavar="QUEUE",
                        help="a queue no worker takes jobs from (repeatable)")
    parser.add_argument("--stall-after", type=float, default=0, metavar="SECONDS",
                        help="serve the stalled queues normally this long first")
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0 = forever")
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        if args.create:
            conn.execute((HERE / "jobs.sql").read_text())
            if args.amqp:
                create_vhost(args.amqp)
        if args.seed:
            conn.execute(SEED_SQL, {"prefix": args.prefix, "queues": args.queues,
                                    "n": args.seed})
        if args.rate > 0:  # --rate 0 only prepares (create, seed) and exits
            with contextlib.suppress(KeyboardInterrupt):
                run(Platform(conn, args), args.rate, args.duration)
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM ends the traffic as Ctrl-C does. `docker compose stop` sends SIGTERM to the
    container's first process, which ignores a signal it has no handler for: without this
    it would wait for the 10 s timeout and a SIGKILL."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


if __name__ == "__main__":
    stop_on_sigterm()
    sys.exit(main())
