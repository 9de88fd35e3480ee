"""Pure: PostgreSQL snapshots in, metric families out. No I/O, so tests need no database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prometheus_client.metrics_core import Metric

from ..families import counter as _counter
from ..families import gauge as _gauge
from .postgres_config import MetricSpec, QuerySpec


@dataclass(frozen=True)
class DatabaseStats:
    name: str
    size_bytes: float
    xid_age: float
    commits: float
    rollbacks: float
    deadlocks: float


@dataclass(frozen=True)
class HealthSnapshot:
    server_version: str
    max_connections: int
    connections: tuple[tuple[str, int], ...]
    oldest_transaction_age: float
    lock_waiting_sessions: int
    in_recovery: bool
    standby_replay_lag: float | None
    replicas: tuple[tuple[str, float], ...]
    databases: tuple[DatabaseStats, ...]


CONNECTION_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)",
                     "fastpath function call", "disabled", "unknown")


def health_families(source: str, snap: HealthSnapshot, max_databases: int) -> list[Metric]:
    """The built-in health families; databases beyond ``max_databases`` are left out."""
    families: list[Metric] = [
        _gauge("pagerkit_postgres_info", "The PostgreSQL server's version, as a label.",
               [({"server_version": snap.server_version}, 1)], source),
        _gauge("pagerkit_postgres_max_connections",
               "The server's max_connections: new sessions are refused beyond it.",
               [({}, snap.max_connections)], source),
        _gauge("pagerkit_postgres_connections",
               "Client sessions by state; many 'idle in transaction' hold locks and snapshots.",
               connection_samples(snap.connections), source),
        _gauge("pagerkit_postgres_oldest_transaction_age_seconds",
               "Age of the longest-running open transaction; it holds back vacuum.",
               [({}, snap.oldest_transaction_age)], source),
        _gauge("pagerkit_postgres_lock_waiting_sessions",
               "Sessions waiting for a lock right now; a lasting count means blocked work.",
               [({}, snap.lock_waiting_sessions)], source),
        _gauge("pagerkit_postgres_in_recovery",
               "1 on a standby (in recovery), 0 on a primary.",
               [({}, int(snap.in_recovery))], source),
        _gauge("pagerkit_postgres_replication_lag_seconds",
               "On a primary, each replica's replay lag as the primary sees it.",
               [({"replica": name}, lag) for name, lag in snap.replicas], source),
    ]
    if snap.standby_replay_lag is not None:
        families.append(_gauge(
            "pagerkit_postgres_standby_replay_lag_seconds",
            "On a standby, time since the last replayed transaction was committed on the "
            "primary; it also grows while the primary is idle.",
            [({}, snap.standby_replay_lag)], source))
    families.extend(database_families(source, snap.databases[:max_databases]))
    return families


def connection_samples(counts: Iterable[tuple[str, int]]) -> list[tuple[dict[str, str], float]]:
    """Every known state, zero when absent, so a rate or a ratio never has gaps."""
    seen = dict.fromkeys(CONNECTION_STATES, 0)
    for state, count in counts:
        seen[state] = seen.get(state, 0) + count
    return [({"state": state}, count) for state, count in seen.items()]


def database_families(source: str, databases: Sequence[DatabaseStats]) -> list[Metric]:
    def per_db(attr: str) -> list[tuple[dict[str, str], float]]:
        return [({"database": db.name}, getattr(db, attr)) for db in databases]

    return [
        _gauge("pagerkit_postgres_database_size_bytes", "Disk space used by the database.",
               per_db("size_bytes"), source),
        _gauge("pagerkit_postgres_database_xid_age",
               "Transactions since the database's oldest unfrozen transaction ID; PostgreSQL "
               "stops accepting writes near 2^31 (wraparound): vacuum long before.",
               per_db("xid_age"), source),
        _counter("pagerkit_postgres_transactions_committed_total",
                 "Transactions committed in the database.", per_db("commits"), source),
        _counter("pagerkit_postgres_transactions_rolled_back_total",
                 "Transactions rolled back in the database.", per_db("rollbacks"), source),
        _counter("pagerkit_postgres_deadlocks_total",
                 "Deadlocks detected in the database; each one aborted a transaction.",
                 per_db("deadlocks"), source),
    ]


@dataclass(frozen=True)
class QueryRows:
    """A query's result after checking: the series kept and what was wrong."""

    samples: dict[str, list[tuple[dict[str, str], float]]]
    dropped: int
    invalid: dict[str, int]


def query_rows(spec: QuerySpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]
               ) -> QueryRows:
    """Turn rows into samples per metric, capped at ``spec.max_series`` label sets.

    Where rows repeat a metric's label set (the same values, or rows that differ only in
    a label that metric does not use), the first row in the query's order is the one
    exported, every run: give the query an ORDER BY to choose it. Each row left out so
    is counted once under ``duplicate``. The cap keeps the label sets that sort first,
    so the same series survive whatever order the database returns. A NULL or
    non-numeric value costs that sample only (``null``, ``not_a_number``).
    """
    index = {name: i for i, name in enumerate(columns)}
    label_columns = sorted({label for m in spec.metrics for label in m.labels})
    keyed = [(tuple(label_text(row[index[c]]) for c in label_columns), row) for row in rows]
    distinct = {key for key, _ in keyed}
    kept = distinct if len(distinct) <= spec.max_series else set(
        sorted(distinct)[:spec.max_series])
    invalid = {"null": 0, "not_a_number": 0, "duplicate": 0}
    left_out: set[int] = set()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for metric in spec.metrics:
        positions = [label_columns.index(label) for label in metric.labels]
        whole = positions == list(range(len(label_columns)))  # the common case: no copy
        value_at = index[metric.value]
        first: dict[tuple[str, ...], Any] = {}
        for number, (key, row) in enumerate(keyed):
            if key not in kept:
                continue
            own = key if whole else tuple(key[p] for p in positions)
            if own in first:
                left_out.add(number)
            else:
                first[own] = row[value_at]
        samples[metric.name] = metric_samples(metric, first, invalid)
    invalid["duplicate"] = len(left_out)
    return QueryRows(samples, len(distinct) - len(kept), invalid)


def metric_samples(metric: MetricSpec, first: dict[tuple[str, ...], Any],
                   invalid: dict[str, int]) -> list[tuple[dict[str, str], float]]:
    """One metric's samples in label order; bad values counted into ``invalid``."""
    found = []
    for own in sorted(first):
        value = sample_value(first[own])
        if isinstance(value, str):
            invalid[value] += 1
            continue
        found.append((dict(zip(metric.labels, own, strict=True)), value))
    return found


def label_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def sample_value(value: Any) -> float | str:
    """The float, or the kind of problem (``null``, ``not_a_number``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    return "not_a_number"


def application_families(source: str, specs: Sequence[MetricSpec],
                         samples: dict[str, list[tuple[dict[str, str], float]]]) -> list[Metric]:
    families: list[Metric] = []
    for spec in specs:
        make = _counter if spec.type == "counter" else _gauge
        families.append(make(spec.name, spec.help, samples.get(spec.name, []), source))
    return families


SELF_METRICS = frozenset({
    "pagerkit_postgres_databases_dropped_total", "pagerkit_query_up",
    "pagerkit_query_duration_seconds", "pagerkit_query_errors_total",
    "pagerkit_query_series_dropped_total"})
"""Families postgres.py builds itself from its counters, beside the ones above."""
