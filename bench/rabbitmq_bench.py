"""Scrape cost of pagerkit's RabbitMQ source at 100, 1,000 and 10,000 queues.

What it measures, per number of queues, each in a fresh vhost of its own:

- pagerkit (``pagerkit serve``, one rabbitmq source limited to that vhost, no canary)
  through the ``rabbitmq_prometheus`` plugin (``via: prometheus``) and through the
  management API (``via: management``); with ``--canary-at``, one more plugin row with
  the AMQP canary on;
- the floor: the plugin's ``/metrics/detailed`` with the families and the vhost pagerkit
  asks for, fetched bare with requests on one keep-alive session, in this process;
- the management API's four requests pagerkit makes per scrape on that path
  (``/api/overview``, ``/api/nodes``, ``/api/queues/<vhost>``, ``/api/consumers/<vhost>``,
  same parameters), fetched bare and parsed with ``json.loads``;
- RabbitMQ's own ``rabbitmq_prometheus`` plugin, ``/metrics/per-object``.

With ``--large N`` it also fills one vhost with N queues and scrapes only pagerkit
through the plugin and its floor, to tell whether a scrape fits a 10 s timeout.

For each: median and p95 latency, CPU per scrape of the exporter (utime + stime from
/proc; for the floor, this process), the exporter's peak RSS (VmHWM), the broker's CPU
per scrape (its Erlang VM, ``beam.smp``), samples and size of the answer.

Why: pagerkit's per-scrape work is those four requests; everything it adds on top (reading
under a deadline, building and encoding 3 series per queue, HTTP) should be small next to
them, and a scrape should cost less than the plugin's per-object endpoint, which is what
people would otherwise scrape for per-queue numbers. The targets are in bench/README.md.

Run it with the project's venv: ``.venv/bin/python bench/rabbitmq_bench.py`` (``make bench``
runs it). It needs RabbitMQ with the management plugin on loopback, ``rabbitmq-plugins``
(it enables ``rabbitmq_prometheus`` if needed and disables it again at the end), creates
and deletes its own vhosts, and rewrites the RabbitMQ results block of bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

try:
    import requests
    import yaml
    from rabbitmq_broker import (
        PLUGIN,
        ManagementApi,
        Workload,
        bench_vhost,
        broker_pid,
        consumers,
        fill,
        idle_broker_ms_per_s,
        prometheus_plugin,
        vhost_path,
        wait_for_state,
    )
except ImportError as exc:  # the project venv has pika, requests and PyYAML
    sys.exit(f"rabbitmq_bench: missing Python package {exc.name!r}; run it with the project "
             "venv after `pip install -e '.[test]'` (.venv/bin/python bench/rabbitmq_bench.py)")

from benchkit import (
    PAGERKIT,
    PAGERKIT_HINT,
    README,
    ROOT,
    BenchError,
    Subject,
    Tally,
    bench_main,
    collect_duration_ms,
    cpu_model,
    cpu_seconds,
    fmt,
    free_port,
    interleaved,
    log,
    met,
    p95,
    pagerkit_up,
    peak_rss_mb,
    replace_block,
    require,
    running,
    scrape,
    series_in,
    version_of,
    write_json,
)

RESULTS_JSON = ROOT / "bench" / "results" / "rabbitmq_bench.json"
BEGIN_MARK = "<!-- rabbitmq-bench:begin (written by bench/rabbitmq_bench.py) -->"
END_MARK = "<!-- rabbitmq-bench:end -->"

PASSWORD_ENV = "PAGERKIT_BENCH_RABBITMQ_PASSWORD"  # pagerkit's config reads it from there
SIZES = (100, 1_000, 10_000)

PLUGIN_PATH_ROW = "pagerkit via: prometheus"
PAGERKIT_ROW = "pagerkit via: management"
CANARY_ROW = "pagerkit via: prometheus + canary"
FLOOR_ROW = "plugin /metrics/detailed, bare (floor)"
MANAGEMENT_ROW = "management API, bare"
PLUGIN_ROW = "rabbitmq_prometheus per-object"

TARGET_RATIO = 1.5  # pagerkit's plugin path over the floor, at the largest size
TARGET_SPEEDUP = 2.0  # the plugin path against the management path and per-object
TARGET_RSS_MB = 100.0
LARGE_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- measuring

@dataclass(frozen=True)
class Stage:
    """One size, filled and settled, ready to be scraped."""

    vhost: str
    work: Workload
    scrapes: int
    broker: int  # beam.smp's pid
    idle_broker_ms_per_s: float
    workdir: Path


@dataclass
class Result:
    queues: int
    row: str
    scrapes: int
    median_ms: float
    p95_ms: float
    cpu_ms_per_scrape: float | None  # the exporter's process; None: inside the broker
    broker_cpu_ms_per_scrape: float
    broker_above_idle_ms_per_scrape: float  # less the idle broker's CPU over the same time
    peak_rss_mb: float | None
    samples: int | None
    body_mb: float
    collect_ms: float | None  # pagerkit's own pagerkit_collect_duration_seconds, median
    latencies_ms: list[float] = field(repr=False)


def result(stage: Stage, subject: Subject, tally: Tally, rss: float | None,
           samples: int | None, body_bytes: int, collect_ms: float | None = None) -> Result:
    n = len(tally.latencies_ms)
    broker_ms = tally.backend_cpu_s * 1000 / n
    idle_ms = stage.idle_broker_ms_per_s * tally.busy_s / n
    return Result(stage.work.queues, subject.row, n, statistics.median(tally.latencies_ms),
                  p95(tally.latencies_ms),
                  None if subject.cpu is None else tally.cpu_s * 1000 / n, broker_ms,
                  broker_ms - idle_ms, rss, samples, body_bytes / 1e6, collect_ms,
                  tally.latencies_ms)


# pagerkit

def pagerkit_config(path: Path, args: argparse.Namespace, vhost: str, port: int,
                    canary: bool, via: str) -> Path:
    source: dict[str, Any] = {
        "name": "bench-mq", "kind": "rabbitmq", "url": args.api_url,
        "username": args.username, "password": f"${{{PASSWORD_ENV}}}", "timeout": "30s",
        "vhosts": [vhost], "queues": {"max_series": 100_000}}
    if via == "prometheus":
        source.update(via="prometheus", nodes=[plugin_base(args)])
        del source["url"]
    if canary:
        source["canary"] = {"url": f"amqp://{quote(args.username, safe='')}:${{"
                                   f"{PASSWORD_ENV}}}@{args.amqp_host}:{args.amqp_port}/"
                                   f"{vhost_path(vhost)}"}
    doc = {"web": {"listen_address": f"127.0.0.1:{port}"}, "log": {"level": "warning"},
           "sources": [source]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Pagerkit:
    """``pagerkit serve`` for one stage, as a subject; started by ``serving``."""

    def __init__(self, args: argparse.Namespace, stage: Stage, canary: bool,
                 via: str = "prometheus") -> None:
        self.row = CANARY_ROW if canary else (
            PLUGIN_PATH_ROW if via == "prometheus" else PAGERKIT_ROW)
        self.stage = stage
        self.port = free_port()
        self.name = f"pagerkit-{via}-{stage.work.queues}{'-canary' if canary else ''}"
        self.config = pagerkit_config(stage.workdir / f"{self.name}.yaml", args, stage.vhost,
                                      self.port, canary, via)
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.collect_ms: list[float] = []  # pagerkit's own account, every scrape
        self.pid = 0  # set by serving
        self._password = args.password

    @contextlib.contextmanager
    def serving(self) -> Iterator[Subject]:
        argv = (str(PAGERKIT), "serve", "--config", str(self.config))
        with running(self.row, argv, {PASSWORD_ENV: self._password}, self.url,
                     self.stage.workdir / f"{self.name}.log") as proc, \
                requests.Session() as session:
            self.pid = proc.pid
            yield Subject(self.row, lambda: self._scrape(session),
                          lambda: cpu_seconds(proc.pid))

    def _scrape(self, session: requests.Session) -> tuple[float, str]:
        ms, body = scrape(session, self.url)
        collected = collect_duration_ms(body)
        if collected is not None:
            self.collect_ms.append(collected)
        return ms, body

    def result(self, subject: Subject, tally: Tally, warmup: int) -> Result:
        """Call while it runs (for its peak RSS)."""
        body = str(tally.last)
        check_pagerkit(body, self.stage, self.row)
        measured = self.collect_ms[warmup:]
        return result(self.stage, subject, tally, peak_rss_mb(self.pid), series_in(body),
                      len(body), statistics.median(measured) if measured else None)


def check_pagerkit(body: str, stage: Stage, row: str) -> None:
    """A fast scrape that failed is no result: the source must be up, and every queue,
    consumer and message of the vhost in the answer."""
    if not pagerkit_up(body):
        raise BenchError(f"{row} reports the source down at {stage.work.queues} queues:\n"
                         f"{body[:800]}")
    work, vhost = stage.work, re.escape(stage.vhost)
    want = {"queues": work.queues, "consumers": work.consumers, "messages_ready": work.ready,
            "messages_unacknowledged": work.unacked}
    for name, value in want.items():
        found = re.search(rf'^pagerkit_rabbitmq_vhost_{name}\{{[^}}]*vhost="{vhost}"'
                          r"[^}]*\} (\S+)$", body, re.MULTILINE)
        if found is None or float(found.group(1)) != value:
            raise BenchError(f"{row}: pagerkit_rabbitmq_vhost_{name} is "
                             f"{found.group(1) if found else 'missing'}, not {value}")
    per_queue = body.count("\npagerkit_rabbitmq_queue_messages_ready{")
    if per_queue != work.queues:
        raise BenchError(f"{row}: {per_queue} per-queue series, not {work.queues}")


# the floor: the plugin's detailed endpoint, bare

def plugin_base(args: argparse.Namespace) -> str:
    """The plugin's base URL, from ``--plugin-url`` (its per-object endpoint)."""
    return args.plugin_url.rsplit("/metrics", 1)[0]


@contextlib.contextmanager
def detailed_subject(args: argparse.Namespace, stage: Stage) -> Iterator[Subject]:
    """What pagerkit asks every node for its queues, fetched whole and not parsed."""
    from pagerkit.collect.collectors.rabbitmq_prometheus_snapshot import DETAILED_FAMILIES

    params = [("family", f) for f in DETAILED_FAMILIES] + [("vhost", stage.vhost)]
    url = plugin_base(args) + "/metrics/detailed"
    with requests.Session() as session:
        session.headers["Accept-Encoding"] = "identity"  # as pagerkit's session asks
        session.trust_env = False
        yield Subject(FLOOR_ROW, lambda: detailed_fetch(session, url, params),
                      time.process_time, cpu_shared=True)


def detailed_fetch(session: requests.Session, url: str, params: list[tuple[str, str]]
                   ) -> tuple[float, bytes]:
    start = time.perf_counter()
    response = session.get(url, params=params, timeout=60)
    body = response.content
    if response.status_code != 200:
        raise BenchError(f"{url} answered {response.status_code}: {body[:200]!r}")
    return (time.perf_counter() - start) * 1000, body


def detailed_result(stage: Stage, subject: Subject, tally: Tally) -> Result:
    body = tally.last
    assert isinstance(body, bytes)
    line = (f'\nrabbitmq_detailed_queue_messages_ready{{vhost="{stage.vhost}",'
            f'queue="{stage.work.prefix}')  # not the canary's own queue
    found = body.count(line.encode())
    if found != stage.work.queues:
        raise BenchError(f"{FLOOR_ROW}: {found} queues in the answer, not "
                         f"{stage.work.queues}")
    return result(stage, subject, tally, None, series_in(body.decode()), len(body))


# the management API, bare

def floor_requests(api_url: str, vhost: str) -> list[tuple[str, dict[str, str]]]:
    """The requests pagerkit makes per scrape for one vhost, built from its own column
    lists so that the floor follows the collector if they change."""
    try:
        from pagerkit.collect.collectors import rabbitmq as collector
    except ImportError as exc:
        raise BenchError(f"cannot import pagerkit's RabbitMQ collector ({exc}); run with the "
                         "project venv") from None
    base, path = api_url.rstrip("/"), vhost_path(vhost)
    # What RabbitMQSource._queue_params asks for without message_stats.
    queue_params = {"columns": collector.QUEUE_COLUMNS, "disable_stats": "true",
                    "enable_queue_totals": "true"}
    return [(f"{base}/api/overview", {"columns": collector.OVERVIEW_COLUMNS}),
            (f"{base}/api/nodes", {"columns": collector.NODE_COLUMNS}),
            (f"{base}/api/queues/{path}", queue_params),
            (f"{base}/api/consumers/{path}", {"columns": collector.CONSUMER_COLUMNS})]


@contextlib.contextmanager
def floor_subject(args: argparse.Namespace, stage: Stage) -> Iterator[Subject]:
    """The bare fetch, in this process: its CPU is this process's during the fetch."""
    plan = floor_requests(args.api_url, stage.vhost)
    with requests.Session() as session:
        session.auth = (args.username, args.password)
        session.headers["Accept-Encoding"] = "identity"  # as pagerkit's session asks
        session.trust_env = False
        yield Subject(MANAGEMENT_ROW, lambda: bare_fetch(session, plan), time.process_time,
                      cpu_shared=True)


def bare_fetch(session: requests.Session, plan: Sequence[tuple[str, dict[str, str]]]
               ) -> tuple[float, tuple[list[Any], int]]:
    """All of ``plan``, each body read whole and parsed: milliseconds, the documents and
    their size in bytes."""
    start = time.perf_counter()
    docs, size = [], 0
    for url, params in plan:
        response = session.get(url, params=params, timeout=60)
        if response.status_code != 200:
            raise BenchError(f"{url} answered {response.status_code}: {response.text[:200]}")
        docs.append(json.loads(response.content))
        size += len(response.content)
    return (time.perf_counter() - start) * 1000, (docs, size)


def floor_result(stage: Stage, subject: Subject, tally: Tally) -> Result:
    """Checked for the workload's queues and consumers (a canary's own are not counted)."""
    docs, size = tally.last
    work = stage.work
    queues = sum(1 for q in docs[2] if q["name"].startswith(work.prefix))
    held = sum(1 for c in docs[3] if c["queue"]["name"].startswith(work.prefix))
    if (queues, held) != (work.queues, work.consumers):
        raise BenchError(f"{MANAGEMENT_ROW}: {queues} queues and {held} consumers, not "
                         f"{work.queues} and {work.consumers}")
    return result(stage, subject, tally, None, None, size)


# the plugin

@contextlib.contextmanager
def plugin_subject(url: str) -> Iterator[Subject]:
    with requests.Session() as session:
        yield Subject(PLUGIN_ROW, lambda: scrape(session, url), None)


def plugin_result(stage: Stage, subject: Subject, tally: Tally) -> Result:
    body = str(tally.last)
    vhost = re.escape(stage.vhost)
    prefix = re.escape(stage.work.prefix)
    found = len(re.findall(rf'^rabbitmq_queue_messages_ready\{{vhost="{vhost}",queue="{prefix}',
                           body, re.MULTILINE))
    if found != stage.work.queues:
        raise BenchError(f"{PLUGIN_ROW}: {found} queues of {stage.vhost} in the answer, not "
                         f"{stage.work.queues}")
    return result(stage, subject, tally, None, series_in(body), len(body))


# --------------------------------------------------------------------------- one size

@dataclass(frozen=True)
class Setup:
    """How one size's vhost came to be, and the broker's CPU while nobody scraped."""

    queues: int
    fill_s: float
    settle_s: float  # until the management API reported everything
    idle_broker_ms_per_s: float


def scrapes_for(size: int, at_largest: int) -> int:
    """More scrapes where they are cheap: 4x under 1,000 queues, 2x under 10,000, at most
    100."""
    if size >= 10_000:
        return at_largest
    return min(100, (4 if size < 1_000 else 2) * at_largest)


def measure_size(args: argparse.Namespace, api: ManagementApi, size: int, broker: int,
                 workdir: Path, large: bool = False) -> tuple[Setup, list[Result]]:
    work = Workload(size)
    with bench_vhost(api) as vhost:
        log(f"{size:,} queues in {vhost}: declaring, publishing, attaching consumers ...")
        start = time.monotonic()
        fill(args, vhost, work)
        with consumers(args, vhost, work):
            fill_s = time.monotonic() - start
            settle_s = wait_for_state(api, vhost, work)
            time.sleep(args.settle)  # let the broker finish digesting the new queues
            idle = idle_broker_ms_per_s(broker, args.idle)
            rounds = args.large_scrapes if large else scrapes_for(size, args.scrapes)
            stage = Stage(vhost, work, rounds, broker, idle, workdir)
            log(f"  ready after {fill_s:.1f}s + {settle_s:.1f}s; broker idle {idle:.1f} "
                f"ms/s; {stage.scrapes} rounds")
            results = compared_large(args, stage) if large else compared(args, stage)
    for r in results:
        log(f"  {r.row}: median {r.median_ms:.1f} ms")
    return Setup(size, fill_s, settle_s, idle), results


def compared(args: argparse.Namespace, stage: Stage) -> list[Result]:
    """pagerkit both ways, the two bare fetches and the per-object endpoint, and at
    ``--canary-at`` queues pagerkit with the canary too, scraped in turn."""
    plugin_path = Pagerkit(args, stage, canary=False, via="prometheus")
    management = Pagerkit(args, stage, canary=False, via="management")
    canary = Pagerkit(args, stage, canary=True) if stage.work.queues == args.canary_at else None
    with contextlib.ExitStack() as stack:
        subjects = [stack.enter_context(plugin_path.serving()),
                    stack.enter_context(management.serving()),
                    stack.enter_context(detailed_subject(args, stage)),
                    stack.enter_context(floor_subject(args, stage)),
                    stack.enter_context(plugin_subject(args.plugin_url))]
        if canary is not None:
            subjects.append(stack.enter_context(canary.serving()))
        tallies = interleaved(subjects, args.warmup, stage.scrapes, stage.broker)
        results = [plugin_path.result(subjects[0], tallies[0], args.warmup),
                   management.result(subjects[1], tallies[1], args.warmup),
                   detailed_result(stage, subjects[2], tallies[2]),
                   floor_result(stage, subjects[3], tallies[3]),
                   plugin_result(stage, subjects[4], tallies[4])]
        if canary is not None:
            results.append(canary.result(subjects[5], tallies[5], args.warmup))
        return results


def compared_large(args: argparse.Namespace, stage: Stage) -> list[Result]:
    """Only pagerkit through the plugin and its floor: at this size the management API
    and the per-object endpoint take long enough to crowd the run."""
    plugin_path = Pagerkit(args, stage, canary=False, via="prometheus")
    with contextlib.ExitStack() as stack:
        subjects = [stack.enter_context(plugin_path.serving()),
                    stack.enter_context(detailed_subject(args, stage))]
        tallies = interleaved(subjects, args.warmup, stage.scrapes, stage.broker)
        return [plugin_path.result(subjects[0], tallies[0], args.warmup),
                detailed_result(stage, subjects[1], tallies[1])]


# --------------------------------------------------------------------------- report

@dataclass(frozen=True)
class Machine:
    date: str
    cpus: int
    cpu_model: str
    python: str
    rabbitmq: str
    erlang: str
    pagerkit: str
    plugin_enabled_here: bool
    idle_s: float
    other_queues: int  # on the broker at the start, not the benchmark's
    other_connections: int
    setups: list[Setup]


def floor_of(results: Sequence[Result], queues: int) -> Result | None:
    return next((r for r in results if r.queues == queues and r.row == FLOOR_ROW), None)


def ratio(r: Result, results: Sequence[Result]) -> str:
    floor = floor_of(results, r.queues)
    return "n/a" if floor is None else f"{r.median_ms / floor.median_ms:.2f}"


def table(results: Sequence[Result]) -> str:
    head = ("| queues | what | scrapes | median ms | p95 ms | x floor | CPU ms/scrape | "
            "broker CPU ms/scrape | above idle | peak RSS MB | samples | body MB |\n"
            "| ---: | --- |" + " ---: |" * 10 + "\n")
    rows = [f"| {r.queues:,} | {r.row} | {r.scrapes} | {r.median_ms:.1f} | {r.p95_ms:.1f} | "
            f"{ratio(r, results)} | {fmt(r.cpu_ms_per_scrape)} | "
            f"{r.broker_cpu_ms_per_scrape:.1f} | {r.broker_above_idle_ms_per_scrape:.1f} | "
            f"{fmt(r.peak_rss_mb)} | "
            f"{'n/a' if r.samples is None else f'{r.samples:,}'} | {r.body_mb:.2f} |"
            for r in results]
    return head + "\n".join(rows) + "\n"


def verdicts(results: Sequence[Result], large: Sequence[Result]) -> list[str]:
    """One line per target, at the largest of the compared sizes, then the large run."""
    size = max(r.queues for r in results)
    by = {r.row: r for r in results if r.queues == size}
    mine, floor = by[PLUGIN_PATH_ROW], by[FLOOR_ROW]
    limit = TARGET_RATIO * floor.median_ms
    lines = [
        f"{met(mine.median_ms <= limit)} at {size:,} queues, through the plugin at most "
        f"{TARGET_RATIO:g} times the bare detailed fetch: {mine.median_ms:.0f} ms vs "
        f"{floor.median_ms:.0f} ms median ({mine.median_ms / floor.median_ms:.2f}x; the "
        f"limit is {limit:.0f} ms)",
        *(f"{met(other.median_ms >= TARGET_SPEEDUP * mine.median_ms)} at {size:,} queues, "
          f"through the plugin at least {TARGET_SPEEDUP:g} times faster than {other.row}: "
          f"{mine.median_ms:.0f} ms vs {other.median_ms:.0f} ms median "
          f"({other.median_ms / mine.median_ms:.1f}x)"
          for other in (by[PAGERKIT_ROW], by[PLUGIN_ROW])),
        f"{met(mine.peak_rss_mb is not None and mine.peak_rss_mb < TARGET_RSS_MB)} at "
        f"{size:,} queues, peak RSS under {TARGET_RSS_MB:g} MB: {fmt(mine.peak_rss_mb)} MB",
    ]
    for r in large:
        if r.row == PLUGIN_PATH_ROW:
            worst = max(r.latencies_ms)
            lines.append(f"{met(worst < LARGE_TIMEOUT_S * 1000)} at {r.queues:,} queues on "
                         f"one node, every scrape through the plugin within a "
                         f"{LARGE_TIMEOUT_S:g} s timeout: median {r.median_ms:.0f} ms, worst "
                         f"{worst:.0f} ms, peak RSS {fmt(r.peak_rss_mb)} MB")
    return lines


def notes(machine: Machine, results: Sequence[Result]) -> str:
    setups = ", ".join(f"{s.queues:,} queues {s.idle_broker_ms_per_s:.0f} ms/s"
                       for s in machine.setups)
    collected = ", ".join(f"{r.row} at {r.queues:,} queues {r.collect_ms:.0f} ms"
                          for r in results if r.collect_ms is not None)
    plugin = ("enabled by the benchmark for the run, disabled again after"
              if machine.plugin_enabled_here else "already enabled, left so")
    return (
        "At each size the rows were scraped in turn, one request at a time, in an order "
        "rotating every round (pagerkit + canary in the same rounds as the others; its "
        "private queue and its consumer were in the others' answers too, one more of "
        "each). x floor: median over the bare detailed fetch's median at the same size. "
        "CPU ms/scrape: pagerkit's process over the measured rounds (it idles in between), "
        "or the benchmark's own process during its bare fetches (requests, and json.loads "
        "for the management API); the plugin's CPU is the broker's. "
        "Broker CPU: utime + stime of RabbitMQ's beam.smp during each scrape, summed, "
        "divided by the scrapes; above idle: less what the broker burns over that time "
        f"when nobody scrapes it ({setups}, read over {machine.idle_s:g} s before the "
        "scrapes: queue stats and the management plugin's aggregation). body MB: the "
        "answer as parsed (pagerkit and the per-object endpoint were asked for gzip, as "
        "Prometheus does; the bare fetches are identity-encoded, as pagerkit asks). "
        f"pagerkit's own pagerkit_collect_duration_seconds, median: {collected}. "
        f"{PLUGIN}: {plugin}.")


def report(machine: Machine, results: Sequence[Result], large: Sequence[Result]) -> str:
    return (
        f"### Results, {machine.date}\n\n"
        f"Machine: {machine.cpus} CPUs ({machine.cpu_model}), Python {machine.python}, "
        f"RabbitMQ {machine.rabbitmq} on Erlang {machine.erlang}, pagerkit "
        f"{machine.pagerkit}. Already on the broker, not the benchmark's: "
        f"{machine.other_queues} queues (in the plugin's answer too, which covers every "
        f"vhost), {machine.other_connections} client connections.\n\n"
        f"{table(results)}\n{notes(machine, results)}\n\n"
        + (f"One node, many queues (only these two rows, {large[0].scrapes} rounds):\n\n"
           f"{table(large)}\n" if large else "")
        + "Targets:\n\n" + "\n".join(verdicts(results, large)) + "\n")


# --------------------------------------------------------------------------- main

def run(args: argparse.Namespace) -> int:
    require(PAGERKIT, PAGERKIT_HINT)
    api = ManagementApi(args.api_url, args.username, args.password)
    overview = api.json("/api/overview", {
        "columns": "rabbitmq_version,erlang_version,object_totals"})
    others = overview.get("object_totals", {})
    if others.get("connections"):
        log(f"warning: {others['connections']} client connection(s) already on the broker; "
            "their traffic is in the broker's numbers")
    broker = broker_pid()
    setups, results, large = [], [], []
    try:
        with prometheus_plugin(args.plugin_url) as enabled_here, \
                tempfile.TemporaryDirectory(prefix="pagerkit-bench-") as tmp:
            for size in args.sizes:
                setup, rows = measure_size(args, api, size, broker, Path(tmp))
                setups.append(setup)
                results += rows
            if args.large:
                setup, large = measure_size(args, api, args.large, broker, Path(tmp), True)
                setups.append(setup)
    finally:
        api.close()
    machine = Machine(dt.date.today().isoformat(), os.cpu_count() or 0, cpu_model(),
                      platform.python_version(), str(overview.get("rabbitmq_version")),
                      str(overview.get("erlang_version")), version_of(PAGERKIT),
                      enabled_here, args.idle, int(others.get("queues", 0)),
                      int(others.get("connections", 0)), setups)
    block = report(machine, results, large)
    print(block)
    if not args.no_readme:
        replace_block(README, BEGIN_MARK, END_MARK, block)
        write_json(RESULTS_JSON, machine, [*results, *large])
        log(f"wrote {README.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
    return 0


def sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v.replace("_", "")) for v in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 15:
        raise argparse.ArgumentTypeError("each size must be at least 15 queues")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=sizes, default=SIZES,
                   help="queue counts, comma-separated (default 100,1000,10000)")
    p.add_argument("--scrapes", type=int, default=30,
                   help="measured rounds at 10,000 queues and more (default 30, at least "
                        "20); 2x under 10,000, 4x under 1,000 (at most 100)")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured scrapes first (3)")
    p.add_argument("--large", type=int, default=50_000, metavar="QUEUES",
                   help="one more vhost of this many queues, scraped only through the "
                        "plugin and its floor (50000; 0: none)")
    p.add_argument("--large-scrapes", type=int, default=10,
                   help="measured rounds at --large queues (10)")
    p.add_argument("--canary-at", type=int, default=10_000, metavar="QUEUES",
                   help="the size with an extra pagerkit row, canary on (10000; 0: none)")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds to wait after the API reports every queue (5)")
    p.add_argument("--idle", type=float, default=10.0,
                   help="seconds over which the idle broker's CPU is read (10)")
    p.add_argument("--api-url", default="http://127.0.0.1:15672",
                   help="the management API (default http://127.0.0.1:15672)")
    p.add_argument("--plugin-url", default="http://127.0.0.1:15692/metrics/per-object",
                   help=f"{PLUGIN}'s per-object endpoint")
    p.add_argument("--amqp-host", default="127.0.0.1")
    p.add_argument("--amqp-port", type=int, default=5672)
    p.add_argument("--username", default="guest", help="an administrator (default guest)")
    p.add_argument("--password", default=os.environ.get("RABBITMQ_PASSWORD", "guest"),
                   help="default $RABBITMQ_PASSWORD, else guest")
    p.add_argument("--no-readme", action="store_true", help="print only; leave README alone")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main("rabbitmq_bench", run, parser().parse_args(argv), min_scrapes=20)


if __name__ == "__main__":
    sys.exit(main())
