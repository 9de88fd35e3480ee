"""What a dead relay costs: the time from an alert's firing in Alertmanager to the provider's
request, with the relay of the Alertmanager peer that sends first dead, next to the same
with both relays alive; and random relay kills during incidents, counted for lost and
doubled pages.

Two Debian prometheus-alertmanager peers in a cluster on loopback, a ``pagerkit relay``
process beside each (tests/harness/ha.py, the same set the integration tests use), and the
Twilio and Pushover stand-in. Each incident is a new critical alert group (tier 1, a push)
posted to both peers, as Prometheus does; its latency runs from the moment the benchmark
starts the POST to the first peer until the stand-in receives the push (time.monotonic()
of this process, on both sides). One incident at a time.

Alertmanager's ``--cluster.peer-timeout`` bounds the failover: the peer at position 1 waits
one peer timeout before it looks at the notification log and sends what the first peer
did not; the benchmark runs at each ``--peer-timeouts`` value to show it.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from benchkit import BenchError, on_sigterm, p95, replace_block  # noqa: E402
from tests.harness.ha import HaSet, incident  # noqa: E402

BEGIN = "<!-- ha-bench:begin (written by bench/ha_bench.py) -->"
END = "<!-- ha-bench:end -->"


def page_latency(s: HaSet, name: str, seconds: float = 30) -> float:
    """Seconds from firing ``name`` until the stand-in got its push."""
    started = time.monotonic()
    s.fire([incident(name, "1")])
    deadline = started + seconds
    while time.monotonic() < deadline:
        got = [p for p in s.provider.of("push", s.push_key)
               if p.fields["title"].startswith(f"{name} ")]
        if got:
            s.resolve([incident(name, "1")])
            return got[0].at - started
        time.sleep(0.005)
    raise BenchError(f"no push for {name} within {seconds}s")


def series(s: HaSet, prefix: str, count: int) -> list[float]:
    return [page_latency(s, f"{prefix}{i:03d}") for i in range(count)]


def kills(s: HaSet, count: int, seed: int) -> Counter[int]:
    """``count`` incidents (tier 1 by push, tier 2 by SMS), a random relay SIGKILLed at a
    random moment in the first 1.2 s and started again once both pages came: how many
    pages each tier of each incident got, counted (1 is right)."""
    rng = random.Random(seed)
    names = [f"Kill{i:03d}" for i in range(count)]
    for name in names:
        victim = s.relays[rng.randrange(2)]
        killer = threading.Timer(rng.uniform(0, 1.2), victim.kill)
        killer.start()
        s.fire([incident(name, "1"), incident(name, "2")])
        killer.join()
        deadline = time.monotonic() + 30
        while not (pushes(s, name) and sms(s, name)) and time.monotonic() < deadline:
            time.sleep(0.02)
        victim.start()
        s.resolve([incident(name, "1"), incident(name, "2")])
    time.sleep(10)  # a duplicate would come within a flush and a peer timeout
    return Counter([len(pushes(s, n)) for n in names] + [len(sms(s, n)) for n in names])


def pushes(s: HaSet, name: str) -> list[object]:
    return [p for p in s.provider.of("push", s.push_key) if p.fields["title"].startswith(
        f"{name} ")]


def sms(s: HaSet, name: str) -> list[object]:
    return [p for p in s.provider.of("sms", s.phone) if f": {name} tier" in p.fields["Body"]]


def run(args: argparse.Namespace) -> tuple[list[tuple[str, str, list[float]]], Counter[int]]:
    rows: list[tuple[str, str, list[float]]] = []
    counted: Counter[int] = Counter()
    for timeout in args.peer_timeouts.split(","):
        with tempfile.TemporaryDirectory(prefix="pagerkit-ha-bench-") as tmp:
            s = HaSet(Path(tmp), peer_timeout=timeout)
            try:
                print(f"peer timeout {timeout}: both relays alive", file=sys.stderr)
                rows.append((timeout, "both alive", series(s, "Alive", args.incidents)))
                if not counted:
                    print(f"{args.kills} incidents with random kills", file=sys.stderr)
                    counted = kills(s, args.kills, args.seed)
                print(f"peer timeout {timeout}: the first peer's relay dead", file=sys.stderr)
                s.relays[s.first()].kill()
                rows.append((timeout, "first peer's relay dead",
                             series(s, "Dead", args.incidents)))
            finally:
                s.close()
    return rows, counted


def report(rows: list[tuple[str, str, list[float]]], counted: Counter[int],
           args: argparse.Namespace) -> str:
    lines = [BEGIN, "",
             f"{args.incidents} incidents per row, one at a time; seconds from the alert's "
             "POST to Alertmanager to the provider's request.", "",
             "| `--cluster.peer-timeout` | relays | median | p95 | max | failover cost "
             "(median) |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    alive: dict[str, float] = {}
    for timeout, what, values in rows:
        median = statistics.median(values)
        if what == "both alive":
            alive[timeout] = median
        cost = f"{median - alive[timeout]:.2f} s" if what != "both alive" else ""
        lines.append(f"| {timeout} | {what} | {median:.3f} s | {p95(values):.3f} s | "
                     f"{max(values):.3f} s | {cost} |")
    pages = ", ".join(f"{n} page(s): {c}" for n, c in sorted(counted.items()))
    lines += ["", f"Random SIGKILLs, {args.kills} incidents of two tiers (seed {args.seed}): "
                  f"pages per tier and incident: {pages} "
                  f"({'none lost, none doubled' if set(counted) == {1} else 'NOT exactly once'}).",
              "", END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--peer-timeouts", default="1s,3s",
                        help="Alertmanager's --cluster.peer-timeout values, comma separated")
    parser.add_argument("--kills", type=int, default=20, help="incidents with random kills")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        rows, counted = run(args)
    except BenchError as exc:
        print(f"ha_bench: {exc}", file=sys.stderr)
        return 1
    table = report(rows, counted, args)
    print(table)
    out = HERE / "results" / "ha_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "kills": dict(counted)}, indent=1))
    if not args.no_readme:
        replace_block(HERE / "README.md", BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
