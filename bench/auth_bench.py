"""What the exporter's basic auth costs, what its timing tells, and what a flood of wrong
passwords does to a scrape with the right one.

`pagerkit serve` runs with a web config of two users (bcrypt cost 10, htpasswd's default)
and the built-in PostgreSQL health collector, on loopback. Measured:

1. timing: ``--rounds`` rounds, each of one request to ``/`` with an unknown user, one with
   a wrong password for a known user (every password new: refusals are cached) and one
   with the right password (verified once before, so from the cache), one after another
   on one keep-alive connection: median and p95 of each, and the ratio of the unknown
   user's median to the wrong password's (1.0: timing does not tell who exists);
2. flood: ``--threads`` threads connecting from 127.0.0.2 send new wrong passwords (to the
   known users and to unknown ones, in turn) for ``--seconds``; meanwhile a scraper from
   127.0.0.1 scrapes ``/metrics`` with the right password every 0.5 s, and a second user,
   never verified before, scrapes once in the middle of the flood (its check is bcrypt's,
   during the flood). Reported: every scrape's status and latency, the flood's answers
   per second by status, and the exporter's CPU over the flood (utime + stime of its
   process, every thread, over wall time: 1.0 is one core busy).

Targets: the ratio within 0.8-1.25; no scrape with the right password fails (no 429, no
401) and the worst takes under 1 s; the exporter uses at most half the machine's cores
plus 0.5 for HTTP under the flood (bcrypt is bounded to half of them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import requests
from requests.adapters import HTTPAdapter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from benchkit import (  # noqa: E402
    PAGERKIT,
    PAGERKIT_HINT,
    BenchError,
    cpu_model,
    cpu_seconds,
    free_port,
    log,
    met,
    on_sigterm,
    p95,
    replace_block,
    require,
    stop,
    tail,
)

BEGIN = "<!-- auth-bench:begin (written by bench/auth_bench.py) -->"
END = "<!-- auth-bench:end -->"
USERS = {"prometheus": "scrape-pass", "prometheus-ha": "other-pass"}
COST = 10


class FromAddress(HTTPAdapter):
    """Connections from a given loopback address: the flood comes from a host of its own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


@contextlib.contextmanager
def exporter(folder: Path, dsn: str) -> Iterator[tuple[str, int]]:
    """``pagerkit serve`` with basic auth; its base URL and pid, stopped on the way out."""
    require(PAGERKIT, PAGERKIT_HINT)
    (folder / "web.yml").write_text("basic_auth_users:\n" + "".join(
        f"  {user}: '{bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST)).decode()}'\n"
        for user, password in USERS.items()))
    port = free_port()
    (folder / "pagerkit.yaml").write_text(
        f'web:\n  listen_address: "127.0.0.1:{port}"\n  config_file: web.yml\n'
        f'sources:\n  - name: db\n    kind: postgres\n    dsn: "{dsn}"\n')
    logfile = folder / "serve.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen([str(PAGERKIT), "serve", "--config",
                                 str(folder / "pagerkit.yaml")], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"pagerkit serve did not start; its log:\n{tail(logfile)}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop(proc)


def timed(session: requests.Session, url: str, user: str, password: str) -> tuple[int, float]:
    start = time.perf_counter()
    status = session.get(url, auth=(user, password), timeout=30).status_code
    return status, (time.perf_counter() - start) * 1000


@dataclass(frozen=True)
class Timing:
    unknown: list[float]
    wrong: list[float]
    right: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.unknown) / statistics.median(self.wrong)


def timing(base: str, rounds: int) -> Timing:
    session = session_from("127.0.0.1")
    user, password = next(iter(USERS.items()))
    assert timed(session, f"{base}/", user, password)[0] == 200  # now cached
    out: dict[str, list[float]] = {"unknown": [], "wrong": [], "right": []}
    for n in range(rounds):
        for kind, who, secret, want in (("unknown", "nobody", f"guess-{n}", 401),
                                        ("wrong", user, f"guess-{n}", 401),
                                        ("right", user, password, 200)):
            status, ms = timed(session, f"{base}/", who, secret)
            if status != want:
                raise BenchError(f"{kind}: {status} instead of {want}")
            out[kind].append(ms)
    return Timing(out["unknown"], out["wrong"], out["right"])


@dataclass(frozen=True)
class Flood:
    seconds: float
    threads: int
    answers: Counter[int]
    scrapes: list[tuple[int, float]]
    first: tuple[int, float]
    """The second user's first scrape: its check is bcrypt's, during the flood."""
    cpu_cores: float


def flood(base: str, pid: int, threads: int, seconds: float) -> Flood:
    stop_flood = threading.Event()
    answers: Counter[int] = Counter()
    lock = threading.Lock()
    guesses = itertools.count()
    names = [*USERS, "nobody"]

    def hammer() -> None:
        session = session_from("127.0.0.2")
        while not stop_flood.is_set():
            guess = next(guesses)
            status = session.get(f"{base}/metrics", timeout=30,
                                 auth=(names[guess % len(names)], f"flood-{guess}")).status_code
            with lock:
                answers[status] += 1

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    scraper = session_from("127.0.0.1")
    user, password = next(iter(USERS.items()))
    other, other_password = list(USERS.items())[1]
    scrapes: list[tuple[int, float]] = []
    first = (0, 0.0)
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)  # at full strength before the measurement starts
        with lock:
            answers.clear()
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - wall0 < seconds:
            scrapes.append(timed(scraper, f"{base}/metrics", user, password))
            if first == (0, 0.0) and time.monotonic() - wall0 > seconds / 2:
                first = timed(scraper, f"{base}/metrics", other, other_password)
            time.sleep(0.5)
        wall = time.monotonic() - wall0
        cores = (cpu_seconds(pid) - cpu0) / wall
        with lock:
            counted = Counter(answers)
    finally:
        stop_flood.set()
        for worker in workers:
            worker.join(timeout=30)
    return Flood(wall, threads, counted, scrapes, first, cores)


def block(t: Timing, f: Flood) -> str:
    cpus = os.cpu_count() or 1
    cap = max(1, cpus // 2) + 0.5
    worst = max(ms for _, ms in [*f.scrapes, f.first])
    failed = [s for s, _ in [*f.scrapes, f.first] if s != 200]
    rate = sum(f.answers.values()) / f.seconds
    by_status = ", ".join(f"{status}: {count / f.seconds:.0f}/s"
                          for status, count in sorted(f.answers.items()))
    lines = [
        f"Run on {dt.date.today()}, {cpus} CPUs ({cpu_model()}), Python "
        f"{sys.version.split()[0]}, bcrypt {bcrypt.__version__} at cost {COST}.",
        "",
        "| request | median ms | p95 ms |",
        "| --- | --: | --: |",
        *(f"| {label} | {statistics.median(v):.1f} | {p95(v):.1f} |" for label, v in (
            ("unknown user (dummy hash)", t.unknown), ("known user, wrong password", t.wrong),
            ("right password (cached)", t.right))),
        "",
        f"Flood: {f.threads} threads from 127.0.0.2 for {f.seconds:.0f} s, answered "
        f"{rate:.0f}/s ({by_status}).",
        "",
        "| scrape with the right password | count | failed | median ms | worst ms |",
        "| --- | --: | --: | --: | --: |",
        f"| cached, every 0.5 s | {len(f.scrapes)} | "
        f"{sum(s != 200 for s, _ in f.scrapes)} | "
        f"{statistics.median(ms for _, ms in f.scrapes):.1f} | "
        f"{max(ms for _, ms in f.scrapes):.1f} |",
        f"| a second user's first (bcrypt) | 1 | {int(f.first[0] != 200)} | "
        f"{f.first[1]:.1f} | {f.first[1]:.1f} |",
        "",
        "Targets:",
        "",
        f"{met(0.8 <= t.ratio <= 1.25)} an unknown user costs what a wrong password costs "
        f"(ratio of medians {t.ratio:.2f}, band 0.8-1.25).",
        f"{met(not failed and worst < 1000)} no scrape with the right password failed under "
        f"the flood ({len(failed)} failed), the worst took {worst:.0f} ms (under 1000).",
        f"{met(f.cpu_cores <= cap)} the exporter used {f.cpu_cores:.2f} cores under the "
        f"flood (at most {cap:.1f}: bcrypt bounded to {max(1, cpus // 2)}, plus HTTP).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-readme", action="store_true",
                        help="print the results instead of writing them into bench/README.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="pagerkit-auth-bench-") as folder, \
                exporter(Path(folder), args.dsn) as (base, pid):
            log(f"timing: {args.rounds} rounds")
            t = timing(base, args.rounds)
            log(f"flood: {args.threads} threads for {args.seconds:g} s")
            f = flood(base, pid, args.threads, args.seconds)
    except BenchError as exc:
        print(f"auth_bench: {exc}", file=sys.stderr)
        return 2
    text = block(t, f)
    if args.no_readme:
        print(text)
    else:
        replace_block(HERE / "README.md", BEGIN, END, text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
