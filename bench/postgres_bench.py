"""Scrape cost of pagerkit's PostgreSQL source against two other exporters.

What it measures, per exporter, scraping ``/metrics`` one request at a time as
Prometheus would (keep-alive, gzip, Prometheus's Accept header): the scrape latency
(median, p95), the exporter's CPU time per scrape (utime + stime from /proc, all
threads), its peak RSS (VmHWM), and how many series it answered with. The database is
a fresh one holding the example ``jobs`` table (examples/jobs.sql) filled with
1,000,000 jobs over 20 queues.

Why: pagerkit is meant to cost next to nothing on top of the SQL it runs. So the SQL is
also timed alone (psycopg, warm connection), and the table states pagerkit's own
overhead: scrape latency minus that SQL time. The targets (bench/README.md) compare
pagerkit with health only to prometheus-postgres-exporter's default scrape, and
pagerkit with the example application queries to query-exporter running the same SQL.

Run it with the project's venv: ``.venv/bin/python bench/postgres_bench.py`` (what
``make bench`` runs). It creates and drops its own database, installs query-exporter
into bench/.venv-query-exporter on first use, starts each exporter on a free loopback
port in turn, and rewrites the results block of bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import psycopg
    import requests
    import yaml
except ImportError as exc:  # the project venv with the test extra has all three
    sys.exit(f"postgres_bench: missing Python package {exc.name!r}; run it with the project "
             "venv after `pip install -e '.[test]'` (.venv/bin/python bench/postgres_bench.py)")

from benchkit import (
    PAGERKIT,
    PAGERKIT_HINT,
    README,
    ROOT,
    BenchError,
    bench_main,
    collect_duration_ms,
    cpu_model,
    cpu_seconds,
    fmt,
    free_port,
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

BENCH = ROOT / "bench"
EXAMPLE_DDL = ROOT / "examples" / "jobs.sql"
EXAMPLE_CONFIG = ROOT / "examples" / "pagerkit.yaml"
RESULTS_JSON = BENCH / "results" / "postgres_bench.json"
APP_QUERIES = ("jobs_by_state", "oldest_queued_job")

POSTGRES_EXPORTER = Path("/usr/bin/prometheus-postgres-exporter")
QE_VENV = BENCH / ".venv-query-exporter"
# SQLAlchemy 2.1, which query-exporter 5 pulls in, drives postgresql:// with psycopg 3.
QE_REQUIREMENTS = ("query-exporter>=5,<6", "psycopg[binary]>=3.1")

BEGIN_MARK = "<!-- postgres-bench:begin (written by bench/postgres_bench.py) -->"
END_MARK = "<!-- postgres-bench:end -->"

TARGET_OVERHEAD_MS = 10.0
# Not one of the targets' configurations: the same work query-exporter does, for context.
NO_HEALTH = "2 queries, health off (context)"
HEALTH = "pagerkit health"  # SqlAlone's name for pagerkit's health statements
TARGET_RSS_MB = 60.0


@dataclass(frozen=True)
class Dataset:
    rows: int = 1_000_000
    queues: int = 20
    queued: int = 5_000
    running: int = 300


@dataclass(frozen=True)
class Exporter:
    """One exporter process to benchmark: how to start it and what SQL it runs."""

    label: str
    config: str
    argv: tuple[str, ...]
    env: dict[str, str]
    port: int
    sql: tuple[str, ...]  # what SqlAlone times between its scrapes: the SQL it runs


@dataclass
class Result:
    label: str
    config: str
    scrapes: int
    median_ms: float
    p95_ms: float
    sql_ms: float | None
    cpu_ms_per_scrape: float
    peak_rss_mb: float
    series: int
    collect_ms: float | None  # pagerkit's own pagerkit_collect_duration_seconds, median
    latencies_ms: list[float] = field(repr=False)
    sql_rounds_ms: list[float | None] = field(repr=False)

    @property
    def overhead_ms(self) -> float | None:
        return None if self.sql_ms is None else self.median_ms - self.sql_ms


# --------------------------------------------------------------------------- database

LOAD_FINISHED = """
INSERT INTO jobs (queue, state, created_at, started_at, finished_at)
SELECT queue, state, created, started, started + (5 + random() * 600) * interval '1 second'
FROM (SELECT queue, state, created, created + random() * 120 * interval '1 second' AS started
      FROM (SELECT 'env-' || lpad((1 + i %% %(queues)s)::text, 2, '0') AS queue,
                   CASE WHEN random() < 0.9 THEN 'succeeded' ELSE 'failed' END AS state,
                   now() - interval '20 minutes'
                         - (1 - i::float8 / %(n)s) * interval '30 days' AS created
            FROM generate_series(1, %(n)s) AS i) AS jobs) AS timed
"""
LOAD_RUNNING = """
INSERT INTO jobs (queue, state, created_at, started_at)
SELECT queue, 'running', started - random() * interval '5 minutes', started
FROM (SELECT 'env-' || lpad((1 + i %% %(queues)s)::text, 2, '0') AS queue,
             now() - random() * interval '30 minutes' AS started
      FROM generate_series(1, %(n)s) AS i) AS jobs
"""
LOAD_QUEUED = """
INSERT INTO jobs (queue, state, created_at)
SELECT 'env-' || lpad((1 + i %% %(queues)s)::text, 2, '0'), 'queued',
       now() - random() * interval '1 hour'
FROM generate_series(1, %(n)s) AS i
"""


def admin_dsn(args: argparse.Namespace, dbname: str = "postgres") -> str:
    return f"host={args.pg_host} port={args.pg_port} user={args.pg_user} dbname={dbname}"


@contextlib.contextmanager
def bench_database(args: argparse.Namespace) -> Iterator[str]:
    """A uniquely named database, dropped afterwards whatever happened."""
    name = f"pagerkit_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin_dsn(args), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise BenchError(f"cannot reach PostgreSQL at {args.pg_host}:{args.pg_port} as "
                         f"{args.pg_user}: {str(exc).strip()}") from None
    try:
        yield name
    finally:
        with psycopg.connect(admin_dsn(args), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")


def load_jobs(dsn: str, data: Dataset) -> None:
    """The example DDL, then the jobs, generated server-side; VACUUM ANALYZE after."""
    finished = data.rows - data.queued - data.running
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(EXAMPLE_DDL.read_text())  # several statements: allowed without parameters
        conn.execute("SELECT setseed(0.42)")
        for sql, n in ((LOAD_FINISHED, finished), (LOAD_RUNNING, data.running),
                       (LOAD_QUEUED, data.queued)):
            conn.execute(sql, {"n": n, "queues": data.queues})
        # VACUUM as autovacuum would after a bulk insert (visibility map, hint bits), and
        # the ANALYZE the planner needs.
        conn.execute("VACUUM (ANALYZE) jobs")


def server_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


class SqlAlone:
    """The SQL the exporters run, timed alone on the benchmark's own warm connection.

    One round (an exporter's statements, once each) runs after each of its scrapes, so
    the SQL and the scrapes see the same cache, the same plans and the same load: the
    difference is the exporter's own. Statements run in autocommit with nothing around
    them; what an exporter adds (BEGIN, SET, COMMIT) counts as its overhead.
    """

    def __init__(self, dsn: str, queries: dict[str, str]) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._conn.read_only = True
        self._statements = {name: fetch_all(self._conn, sql) for name, sql in queries.items()}
        health = health_statements(self._conn)
        if health is not None:
            self._statements[HEALTH] = health
        self.samples: dict[str, list[float]] = {name: [] for name in self._statements}

    def round(self, names: Sequence[str]) -> float | None:
        """Milliseconds for ``names`` run once each; None if one of them cannot be timed."""
        if any(name not in self._statements for name in names):
            return None
        total = 0.0
        for name in names:
            start = time.perf_counter()
            self._statements[name]()
            ms = (time.perf_counter() - start) * 1000
            self.samples[name].append(ms)
            total += ms
        return total

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(ms) for name, ms in self.samples.items() if ms}

    def close(self) -> None:
        self._conn.close()


def fetch_all(conn: psycopg.Connection[Any], sql: str) -> Callable[[], object]:
    return lambda: conn.execute(sql).fetchall()


def health_statements(conn: psycopg.Connection[Any]) -> Callable[[], object] | None:
    """pagerkit's health statements, as its collector sends them (binary cursor); None,
    with a warning, if the function that holds them has moved."""
    try:
        from pagerkit.collect.collectors.postgres import fetch_health
    except ImportError as exc:
        log(f"warning: cannot import pagerkit's fetch_health ({exc}); health SQL not timed")
        return None

    def run() -> object:
        # Database sizes are read once per size_interval (1m), not per scrape: the
        # exporter reads them in its warm-up scrape, so they are left out here too.
        with conn.cursor(binary=True) as cur:
            return fetch_health(cur, {})

    return run


# --------------------------------------------------------------------------- configs

def app_queries() -> list[dict[str, Any]]:
    """The two application queries, as examples/pagerkit.yaml defines them."""
    doc = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    found = {q["name"]: q for s in doc["sources"] if s["kind"] == "postgres"
             for q in s.get("queries", [])}
    missing = [name for name in APP_QUERIES if name not in found]
    if missing:
        raise BenchError(f"{EXAMPLE_CONFIG}: no query named {', '.join(missing)}; the benchmark "
                         f"runs {', '.join(APP_QUERIES)}")
    return [found[name] for name in APP_QUERIES]


def pagerkit_config(path: Path, dsn: str, port: int, queries: list[dict[str, Any]],
                    health: bool) -> Path:
    source: dict[str, Any] = {"name": "bench", "kind": "postgres", "dsn": dsn,
                              "timeout": "10s", "health": health}
    if queries:
        source["queries"] = queries
    doc = {"web": {"listen_address": f"127.0.0.1:{port}"},
           "log": {"level": "warning"}, "sources": [source]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def query_exporter_config(path: Path, url: str, queries: list[dict[str, Any]]) -> Path:
    """The same SQL for query-exporter, which wants each value column named as its metric:
    the query is wrapped, not rewritten. No interval, so it runs on every scrape."""
    metrics: dict[str, Any] = {}
    qe_queries: dict[str, Any] = {}
    for query in queries:
        columns: list[str] = []
        for metric in query["metrics"]:
            metrics[metric["name"]] = {"type": metric["type"], "description": metric["help"],
                                       "labels": list(metric.get("labels", []))}
            columns += [*metric.get("labels", []), f'{metric["value"]} AS {metric["name"]}']
        sql = f"SELECT {', '.join(dict.fromkeys(columns))} FROM ({query['sql']}) AS q"
        qe_queries[query["name"]] = {"databases": ["bench"], "metrics": list(
            m["name"] for m in query["metrics"]), "sql": sql, "timeout": 10}
    doc = {"databases": {"bench": {"dsn": url}}, "metrics": metrics, "queries": qe_queries}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def query_exporter_bin() -> Path:
    """bench/.venv-query-exporter/bin/query-exporter, installed from PyPI on first use."""
    binary = QE_VENV / "bin" / "query-exporter"
    if binary.exists():
        return binary
    log(f"installing {QE_REQUIREMENTS[0]} into {QE_VENV.relative_to(ROOT)} ...")
    python = shutil.which("python3") or sys.executable
    try:
        subprocess.run([python, "-m", "venv", str(QE_VENV)], check=True)
        subprocess.run([str(QE_VENV / "bin" / "pip"), "install", "--quiet", *QE_REQUIREMENTS],
                       check=True)
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"could not install query-exporter into {QE_VENV}: {exc}; remove "
                         "the folder and retry, or install it there by hand") from None
    return binary




# --------------------------------------------------------------------------- processes

@contextlib.contextmanager
def started(exporter: Exporter, logdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    name = re.sub(r"[^a-z0-9]+", "-", f"{exporter.label} {exporter.config}".lower())
    with running(exporter.label, exporter.argv, exporter.env, metrics_url(exporter),
                 logdir / f"{name}.log") as proc:
        yield proc


def metrics_url(exporter: Exporter) -> str:
    return f"http://127.0.0.1:{exporter.port}/metrics"


def measure(exporter: Exporter, proc: subprocess.Popen[bytes], sql: SqlAlone, warmup: int,
            scrapes: int) -> Result:
    """Scrapes one after another, each followed by a round of the same SQL alone. CPU is
    the exporter's process only, over the whole loop (its idle time between scrapes
    included, tiny here): the rounds, run by this process, do not add to it."""
    url = metrics_url(exporter)
    latencies, bodies, rounds = [], [], []
    with requests.Session() as session:
        for _ in range(warmup):
            scrape(session, url)
            sql.round(exporter.sql)
        cpu_before = cpu_seconds(proc.pid)
        for _ in range(scrapes):
            latency, body = scrape(session, url)
            latencies.append(latency)
            bodies.append(body)
            rounds.append(sql.round(exporter.sql) if exporter.sql else None)
        cpu = cpu_seconds(proc.pid) - cpu_before
    check_body(exporter, bodies[-1])
    check_runs_per_scrape(exporter, bodies[0], bodies[-1], scrapes)
    collected = [d for d in map(collect_duration_ms, bodies) if d is not None]
    sql_ms = None if None in rounds else statistics.median(r for r in rounds if r is not None)
    return Result(exporter.label, exporter.config, scrapes, statistics.median(latencies),
                  p95(latencies), sql_ms,
                  cpu * 1000 / scrapes, peak_rss_mb(proc.pid), series_in(bodies[-1]),
                  statistics.median(collected) if collected else None, latencies, rounds)




def check_body(exporter: Exporter, body: str) -> None:
    """A fast scrape that failed is no result: pagerkit must say up 1, and the
    application metrics must be there where they were asked for."""
    if exporter.label == "pagerkit" and not pagerkit_up(body):
        raise BenchError(f"pagerkit ({exporter.config}) reports the source down:\n{body[:800]}")
    if "queries" in exporter.config and "\nci_jobs{" not in body:
        raise BenchError(f"{exporter.label}: no ci_jobs series in the scrape:\n{body[:800]}")


def check_runs_per_scrape(exporter: Exporter, first: str, last: str, scrapes: int) -> None:
    """query-exporter must have run the queries for every scrape, not served old results."""
    if exporter.label != "query-exporter":
        return
    runs = [query_exporter_runs(body) for body in (first, last)]
    if runs[0] is None or runs[1] is None or runs[1] - runs[0] != scrapes - 1:
        raise BenchError(f"query-exporter ran jobs_by_state {runs} times from the first "
                         f"scrape to the last of {scrapes}: not once per scrape")


def query_exporter_runs(body: str) -> float | None:
    found = re.search(r'^queries_total\{[^}]*query="jobs_by_state"[^}]*status="success"[^}]*\}'
                      r" (\S+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else None


# --------------------------------------------------------------------------- report

@dataclass(frozen=True)
class Machine:
    date: str
    cpus: int
    cpu_model: str
    python: str
    postgres: str
    versions: dict[str, str]




def table(results: Sequence[Result]) -> str:
    head = ("| exporter | configuration | scrapes | median ms | p95 ms | SQL ms | "
            "own overhead ms | CPU ms/scrape | peak RSS MB | series |\n"
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    rows = [f"| {r.label} | {r.config} | {r.scrapes} | {r.median_ms:.1f} | {r.p95_ms:.1f} | "
            f"{fmt(r.sql_ms)} | {fmt(r.overhead_ms)} | {r.cpu_ms_per_scrape:.1f} | "
            f"{r.peak_rss_mb:.1f} | {r.series} |" for r in results]
    return head + "\n".join(rows) + "\n"


def verdicts(results: Sequence[Result]) -> list[str]:
    """One line per target: met or not, with the numbers."""
    by = {(r.label, r.config): r for r in results}
    health, full = by[("pagerkit", "health")], by[("pagerkit", "health + 2 queries")]
    pge, qe = by[("prometheus-postgres-exporter", "defaults")], by[("query-exporter",
                                                                    "2 queries")]
    lines = []
    for r in (health, full):
        ok = r.overhead_ms is not None and r.overhead_ms < TARGET_OVERHEAD_MS
        lines.append(f"{met(ok)} own overhead under {TARGET_OVERHEAD_MS:g} ms at the median "
                     f"({r.config}): {r.median_ms:.1f} ms scrape - {fmt(r.sql_ms)} ms SQL = "
                     f"{fmt(r.overhead_ms)} ms")
    for r in (health, full):
        lines.append(f"{met(r.peak_rss_mb < TARGET_RSS_MB)} peak RSS under "
                     f"{TARGET_RSS_MB:g} MB ({r.config}): {r.peak_rss_mb:.1f} MB")
    lines.append(f"{met(health.median_ms <= pge.median_ms)} health only no slower than "
                 f"prometheus-postgres-exporter's default scrape: {health.median_ms:.1f} ms vs "
                 f"{pge.median_ms:.1f} ms median")
    lines.append(f"{met(full.median_ms < qe.median_ms)} with the application queries faster "
                 f"than query-exporter: {full.median_ms:.1f} ms vs {qe.median_ms:.1f} ms median "
                 f"(own overhead {fmt(full.overhead_ms)} vs {fmt(qe.overhead_ms)} ms; without "
                 f"health, which query-exporter does not run, pagerkit took "
                 f"{by[('pagerkit', NO_HEALTH)].median_ms:.1f} ms)")
    return lines




def report(machine: Machine, data: Dataset, sql: dict[str, float],
           results: Sequence[Result]) -> str:
    versions = "; ".join(f"{k} {v}" for k, v in machine.versions.items())
    sql_line = ", ".join(f"{k} {fmt(v, 2)} ms" for k, v in sql.items())
    return (
        f"### Results, {machine.date}\n\n"
        f"Machine: {machine.cpus} CPUs ({machine.cpu_model}), Python {machine.python}, "
        f"PostgreSQL {machine.postgres}. Exporters: {versions}.\n\n"
        f"Data: {data.rows:,} jobs over {data.queues} queues ({data.queued:,} queued, "
        f"{data.running:,} running, the rest finished). SQL alone, median: {sql_line}.\n\n"
        f"{table(results)}\n"
        "SQL ms: the median time of the SQL that exporter runs, timed alone by the "
        "benchmark right after each of its scrapes (pagerkit: its health statements, and "
        "the two queries where configured); own overhead: median scrape minus SQL ms. "
        "prometheus-postgres-exporter runs its own SQL, not timed here. The third pagerkit "
        "row does what query-exporter does (no health), for context; the targets use the "
        f"first two.{collect_note(results)}\n\n"
        "Targets:\n\n" + "\n".join(verdicts(results)) + "\n")


def collect_note(results: Sequence[Result]) -> str:
    timed = [f"{r.config} {r.collect_ms:.1f} ms" for r in results if r.collect_ms is not None]
    if not timed:
        return ""
    return (" pagerkit's own pagerkit_collect_duration_seconds (collection, SQL included; "
            f"the rest of a scrape is encoding and HTTP), median: {', '.join(timed)}.")




# --------------------------------------------------------------------------- main

def exporters(db: str, args: argparse.Namespace, workdir: Path,
              qe_bin: Path) -> list[Exporter]:
    queries = app_queries()
    dsn = admin_dsn(args, db)
    url = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db}"
    runs = []
    for config, health, qs, sql in (("health", True, [], (HEALTH,)),
                                    ("health + 2 queries", True, queries,
                                     (HEALTH, *APP_QUERIES)),
                                    (NO_HEALTH, False, queries, APP_QUERIES)):
        port = free_port()
        path = pagerkit_config(workdir / f"pagerkit-{len(qs)}-{health}.yaml", dsn, port, qs,
                               health)
        runs.append(Exporter("pagerkit", config, (str(PAGERKIT), "serve", "--config",
                                                  str(path)), {}, port, sql))
    port = free_port()
    runs.append(Exporter("prometheus-postgres-exporter", "defaults",
                         (str(POSTGRES_EXPORTER), f"--web.listen-address=127.0.0.1:{port}"),
                         {"DATA_SOURCE_NAME": f"{url}?sslmode=disable"}, port, ()))
    port = free_port()
    qe_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    path = query_exporter_config(workdir / "query-exporter.yaml", qe_url, queries)
    runs.append(Exporter("query-exporter", "2 queries",
                         (str(qe_bin), "--config", str(path), "--host", "127.0.0.1", "--port",
                          str(port), "--log-level", "warning"), {}, port, APP_QUERIES))
    return runs


def run(args: argparse.Namespace) -> int:
    require(PAGERKIT, PAGERKIT_HINT)
    require(POSTGRES_EXPORTER, "apt-get install prometheus-postgres-exporter")
    require(EXAMPLE_DDL, "the example DDL is part of the repository")
    qe_bin = query_exporter_bin()
    data = Dataset(rows=args.rows)
    with tempfile.TemporaryDirectory(prefix="pagerkit-bench-") as tmp, \
            bench_database(args) as db:
        workdir = Path(tmp)
        dsn = admin_dsn(args, db)
        log(f"loading {data.rows:,} jobs into {db} ...")
        load_jobs(dsn, data)
        sql = SqlAlone(dsn, {q["name"]: q["sql"] for q in app_queries()})
        results = []
        try:
            for exporter in exporters(db, args, workdir, qe_bin):
                log(f"{exporter.label} ({exporter.config}) on port {exporter.port} ...")
                with started(exporter, workdir) as proc:
                    results.append(measure(exporter, proc, sql, args.warmup, args.scrapes))
        finally:
            sql.close()
        machine = Machine(dt.date.today().isoformat(), os.cpu_count() or 0, cpu_model(),
                          platform.python_version(), server_version(dsn), {
                              "pagerkit": version_of(PAGERKIT),
                              "prometheus-postgres-exporter": version_of(POSTGRES_EXPORTER),
                              "query-exporter": version_of(qe_bin)})
    block = report(machine, data, sql.medians(), results)
    print(block)
    if not args.no_readme:
        replace_block(README, BEGIN_MARK, END_MARK, block)
        write_json(RESULTS_JSON, machine, results)
        log(f"wrote {README.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scrapes", type=int, default=100, help="measured scrapes per exporter "
                                                             "(default 100, at least 50)")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured scrapes first (3)")
    p.add_argument("--rows", type=int, default=1_000_000, help="jobs to generate")
    p.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    p.add_argument("--pg-port", default=os.environ.get("PGPORT", "5432"))
    p.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    p.add_argument("--no-readme", action="store_true", help="print only; leave README alone")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main("postgres_bench", run, parser().parse_args(argv), min_scrapes=50)


if __name__ == "__main__":
    sys.exit(main())
