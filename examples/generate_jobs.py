#!/usr/bin/env python3
"""Example data for the CI platform's ``jobs`` table: jobs arrive, workers run them.

    python examples/generate_jobs.py --dsn "host=127.0.0.1 dbname=ci user=postgres" \\
        --create --seed 10000 --rate 5 --stall env-03

``--create`` applies examples/jobs.sql; ``--seed N`` inserts N finished jobs of the past
day at once; then, until ``--duration`` runs out (forever by default), jobs arrive at
``--rate`` per second over ``--queues`` queues and ``--workers`` workers take the oldest
queued job, run it for a moment and finish it (9 in 10 succeed). A queue named by
``--stall`` gets jobs but no worker takes them: its backlog grows and its oldest queued
job ages, which is what the alerts watch for.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

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


def queue_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, count + 1)]


def run(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    queues = queue_names(args.prefix, args.queues)
    stalled = args.stall or []
    running: list[tuple[float, int]] = []  # (finish at, job id)
    end = time.monotonic() + args.duration if args.duration else float("inf")
    tick = 0.1
    while time.monotonic() < end:
        expected = args.rate * tick  # arrivals per tick, on average
        arrivals = int(expected) + (random.random() < expected % 1)
        for _ in range(arrivals):
            conn.execute("INSERT INTO jobs (queue) VALUES (%s)", (random.choice(queues),))
        now = time.monotonic()
        for finish_at, job in [r for r in running if r[0] <= now]:
            outcome = "failed" if random.random() < 0.1 else "succeeded"
            conn.execute("UPDATE jobs SET state = %s, finished_at = now() WHERE id = %s",
                         (outcome, job))
            running.remove((finish_at, job))
        while len(running) < args.workers:
            row = conn.execute(TAKE_SQL, {"stalled": stalled}).fetchone()
            if row is None:
                break
            running.append((now + random.uniform(0.5, 3.0), row[0]))
        time.sleep(tick)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string")
    parser.add_argument("--create", action="store_true", help="create the table first")
    parser.add_argument("--seed", type=int, default=0, help="finished jobs to insert at once")
    parser.add_argument("--queues", type=int, default=4, help="number of queues")
    parser.add_argument("--prefix", default="env-", help="queue name prefix")
    parser.add_argument("--rate", type=float, default=2.0, help="new jobs per second")
    parser.add_argument("--workers", type=int, default=4, help="jobs running at once")
    parser.add_argument("--stall", action="append", metavar="QUEUE",
                        help="a queue no worker takes jobs from (repeatable)")
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0 = forever")
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        if args.create:
            conn.execute((HERE / "jobs.sql").read_text())
        if args.seed:
            conn.execute(SEED_SQL, {"prefix": args.prefix, "queues": args.queues,
                                    "n": args.seed})
        if args.rate > 0 and (args.duration or not args.seed):
            try:
                run(conn, args)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
