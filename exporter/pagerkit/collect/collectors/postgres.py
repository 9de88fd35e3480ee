"""The PostgreSQL source: built-in health and the application's own SQL metrics.

One connection per source, reused across scrapes. Every statement runs in a read-only
transaction whose ``statement_timeout`` is what is left of the deadline. The server-side
timeout is not enough (a frozen network peer never delivers the cancel), so ``abort``
shuts the socket down from the engine's thread, which wakes psycopg at once; the
connection is then discarded, never reused.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client.metrics_core import Metric

from ..families import counter, gauge
from .base import Clock, CollectError
from .postgres_config import PostgresConfig, QuerySpec, parse_source
from .postgres_families import (
    DatabaseStats,
    HealthSnapshot,
    application_families,
    health_families,
    query_rows,
)

__all__ = ["PostgresSource", "build_source", "parse_source"]

log = logging.getLogger("pagerkit.postgres")

QUERY_ERROR_KINDS = ("sql", "timeout", "columns", "null", "not_a_number", "duplicate")
_MARGIN = 0.05  # seconds kept back from statement_timeout so the answer arrives in time


@dataclass
class _QueryState:
    """What one application query left behind, kept across scrapes."""

    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    ran_at: float | None = None
    ok: bool = True
    duration: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUERY_ERROR_KINDS, 0))
    dropped: int = 0
    problem: str | None = None


class PostgresSource:
    collector = "postgres"
    error_kinds: tuple[str, ...] = ("connect", "auth", "query", "timeout", "internal")

    def __init__(self, config: PostgresConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.name = config.name
        self.timeout = config.timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._queries = {q.name: _QueryState() for q in config.queries}
        self._databases_dropped = 0
        self._sizes: dict[str, float] = {}
        self._sizes_at: float | None = None

    def describe(self) -> str:
        return f"PostgreSQL {self.config.display_dsn()}"

    def collect(self, deadline: float) -> list[Metric]:
        conn = self._connection(deadline)
        try:
            families: list[Metric] = []
            if self.config.health:
                families += self._health(conn, deadline)
            for spec in self.config.queries:
                if self._clock() >= deadline:
                    raise CollectError("timeout", "the deadline passed between queries")
                self._run_query_if_due(conn, spec, deadline)
            families += self._query_families()
            return families
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                self._discard(conn)
                raise CollectError("query", f"connection lost: {_first_line(exc)}") from None
            raise CollectError("query", _first_line(exc)) from None

    def abort(self) -> None:
        """Wake a blocked psycopg call by shutting its socket; the connection is dropped."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            fd = conn.pgconn.socket
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            pass  # already closed: nothing is blocked on it

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self, deadline: float) -> psycopg.Connection[Any]:
        with self._lock:
            conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            self._discard(conn)
        # libpq counts connect_timeout in whole seconds, 2 at least; the engine's deadline
        # still bounds what the scrape waits for.
        timeout = max(2, math.ceil(deadline - self._clock()))
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": timeout,
                                  "application_name": "pagerkit"}
        if self.config.password is not None:
            kwargs["password"] = self.config.password.reveal()
        try:
            conn = psycopg.connect(self.config.dsn.reveal(), **kwargs)
        except psycopg.OperationalError as exc:
            kind = "auth" if _is_auth_failure(exc) else "connect"
            raise CollectError(kind, _first_line(exc)) from None
        conn.read_only = True
        with self._lock:
            self._conn = conn
        return conn

    def _discard(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        with contextlib.suppress(psycopg.Error):
            conn.close()

    def _health(self, conn: psycopg.Connection[Any], deadline: float) -> list[Metric]:
        with conn.transaction(), conn.cursor(binary=True) as cur:
            _set_statement_timeout(cur, deadline - self._clock())
            now = self._clock()
            if self._sizes_at is None or now - self._sizes_at >= self.config.size_interval:
                self._sizes, self._sizes_at = fetch_sizes(cur), now
            snap = fetch_health(cur, self._sizes)
        self._databases_dropped += max(0, len(snap.databases) - self.config.max_databases)
        families = health_families(self.name, snap, self.config.max_databases)
        families.append(counter(
            "pagerkit_postgres_databases_dropped_total",
            "Database series left out by max_databases; raise it to see them.",
            [({}, self._databases_dropped)], self.name))
        return families

    def _run_query_if_due(self, conn: psycopg.Connection[Any], spec: QuerySpec,
                          deadline: float) -> None:
        state = self._queries[spec.name]
        now = self._clock()
        if state.ran_at is not None and now - state.ran_at < spec.min_interval:
            return
        budget = deadline - now
        if spec.timeout is not None:
            budget = min(budget, spec.timeout)
        state.ran_at = now
        try:
            # Pipeline mode sends BEGIN, the timeout and the query in one round trip.
            with conn.pipeline(), conn.transaction(), conn.cursor(binary=True) as cur:
                _set_statement_timeout(cur, budget)
                cur.execute(spec.sql)
                rows = cur.fetchall()
                columns = [c.name for c in cur.description or ()]
        except psycopg.errors.QueryCanceled as exc:
            self._query_failed(spec, state, "timeout", _first_line(exc))
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                raise
            self._query_failed(spec, state, "sql", _first_line(exc))
        else:
            self._query_succeeded(spec, state, columns, rows)
        state.duration = self._clock() - now

    def _query_failed(self, spec: QuerySpec, state: _QueryState, kind: str, text: str) -> None:
        state.ok = False
        state.samples = {}
        state.errors[kind] += 1
        self._note(spec, state, f"query {spec.name} failed ({kind}): {text}")

    def _query_succeeded(self, spec: QuerySpec, state: _QueryState, columns: list[str],
                         rows: list[Any]) -> None:
        missing = sorted({c for m in spec.metrics for c in (m.value, *m.labels)} - set(columns))
        if missing:
            self._query_failed(spec, state, "columns",
                               f"the result has no column {', '.join(missing)}; the columns "
                               f"are {', '.join(columns)}")
            return
        result = query_rows(spec, columns, rows)
        state.ok = True
        state.samples = result.samples
        state.dropped += result.dropped
        for kind, count in result.invalid.items():
            state.errors[kind] += count
        bad = {k: v for k, v in result.invalid.items() if v}
        problem = None
        if bad:
            problem = "query {} returned {}".format(
                spec.name, ", ".join(f"{v} {k} value(s)" for k, v in sorted(bad.items())))
        elif result.dropped:
            problem = f"query {spec.name} returned more than max_series {spec.max_series} series"
        self._note(spec, state, problem)

    def _note(self, spec: QuerySpec, state: _QueryState, problem: str | None) -> None:
        """Log once per change of state, not once per scrape."""
        if problem == state.problem:
            return
        if problem is None:
            log.info("source %s: query %s is healthy again", self.name, spec.name)
        else:
            log.warning("source %s: %s", self.name, problem)
        state.problem = problem

    def _query_families(self) -> list[Metric]:
        families: list[Metric] = []
        specs = self.config.queries
        for spec in specs:
            families += application_families(self.name, spec.metrics,
                                             self._queries[spec.name].samples)
        if not specs:
            return families
        states = [(spec.name, self._queries[spec.name]) for spec in specs]
        families += [
            gauge("pagerkit_query_up", "1 if the query's last run succeeded.",
                  [({"query": n}, int(s.ok)) for n, s in states], self.name),
            gauge("pagerkit_query_duration_seconds", "How long the query's last run took.",
                  [({"query": n}, s.duration) for n, s in states], self.name),
            counter("pagerkit_query_errors_total",
                    "Query runs that failed (sql, timeout, columns) and values it returned "
                    "that were left out (null, not_a_number, duplicate).",
                    [({"query": n, "kind": k}, v) for n, s in states
                     for k, v in s.errors.items()], self.name),
            counter("pagerkit_query_series_dropped_total",
                    "Series left out because the query returned more than max_series.",
                    [({"query": n}, s.dropped) for n, s in states], self.name),
        ]
        return families


def build_source(config: PostgresConfig, clock: Clock) -> PostgresSource:
    return PostgresSource(config, clock)


def _set_statement_timeout(cur: psycopg.Cursor[Any], seconds: float) -> None:
    """Bound the transaction on the server too; this SELECT also pins the snapshot,
    after which the transaction can no longer be switched to read-write."""
    ms = max(1, int((seconds - _MARGIN) * 1000))
    cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{ms}ms",))


HEALTH_SETTINGS = """
SELECT current_setting('server_version'), current_setting('max_connections')::int,
       pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN
         extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
       END
"""
HEALTH_CONNECTIONS = """
SELECT coalesce(state, 'unknown'), count(*)::int FROM pg_stat_activity
WHERE backend_type = 'client backend' GROUP BY 1
"""
HEALTH_ACTIVITY = """
SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start))
                FILTER (WHERE pid <> pg_backend_pid()), 0)::float8,
       count(*) FILTER (WHERE wait_event_type = 'Lock')::int
FROM pg_stat_activity WHERE backend_type = 'client backend'
"""
HEALTH_REPLICAS = """
SELECT coalesce(application_name, ''), coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication
"""
HEALTH_DATABASES = """
SELECT d.datname,
       age(d.datfrozenxid)::float8,
       coalesce(s.xact_commit, 0)::float8, coalesce(s.xact_rollback, 0)::float8,
       coalesce(s.deadlocks, 0)::float8
FROM pg_database d LEFT JOIN pg_stat_database s ON s.datid = d.oid
WHERE NOT d.datistemplate AND d.datallowconn
ORDER BY d.datname
"""
# Databases the role may not connect to have no size (pg_database_size would fail). The
# sizes are three quarters of the health SQL's time (a stat() per file), and change
# slowly: they are read every size_interval, not on every scrape.
DATABASE_SIZES = """
SELECT d.datname, pg_database_size(d.oid)::float8 FROM pg_database d
WHERE NOT d.datistemplate AND d.datallowconn AND has_database_privilege(d.oid, 'CONNECT')
"""


def fetch_sizes(cur: psycopg.Cursor[Any]) -> dict[str, float]:
    cur.execute(DATABASE_SIZES)
    return {str(name): float(size) for name, size in cur.fetchall()}


def fetch_health(cur: psycopg.Cursor[Any], sizes: dict[str, float]) -> HealthSnapshot:
    """The health figures, read in one read-only transaction; ``sizes`` by database
    (NaN for a database missing from it)."""
    cur.execute(HEALTH_SETTINGS)
    version, max_connections, in_recovery, standby_lag = _one(cur)
    cur.execute(HEALTH_CONNECTIONS)
    connections = tuple((str(s), int(n)) for s, n in cur.fetchall())
    cur.execute(HEALTH_ACTIVITY)
    oldest, waiting = _one(cur)
    cur.execute(HEALTH_REPLICAS)
    replicas = tuple((str(n), float(lag)) for n, lag in cur.fetchall())
    cur.execute(HEALTH_DATABASES)
    databases = tuple(DatabaseStats(str(r[0]), sizes.get(str(r[0]), math.nan), *r[1:])
                      for r in cur.fetchall())
    return HealthSnapshot(str(version), int(max_connections), connections, float(oldest),
                          int(waiting), bool(in_recovery), standby_lag, replicas, databases)


def _one(cur: psycopg.Cursor[Any]) -> Any:
    row = cur.fetchone()
    assert row is not None  # these statements always return one row
    return row


def _is_auth_failure(exc: psycopg.OperationalError) -> bool:
    text = str(exc)
    return "password authentication failed" in text or "no pg_hba.conf entry" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
