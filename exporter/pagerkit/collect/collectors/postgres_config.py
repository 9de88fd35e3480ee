"""The PostgreSQL source's configuration: parsed from YAML, frozen, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg.conninfo

from ...secrets import REDACTOR, Secret, only_references
from ...validation import ParseContext, dotted

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_DATABASES = 100
DEFAULT_MAX_SERIES = 1000
DEFAULT_SIZE_INTERVAL = 60.0
RESERVED_PREFIX = "pagerkit_"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str
    value: str
    labels: tuple[str, ...]
    help: str


@dataclass(frozen=True)
class QuerySpec:
    name: str
    sql: str
    min_interval: float
    timeout: float | None
    max_series: int
    metrics: tuple[MetricSpec, ...]


@dataclass(frozen=True)
class PostgresConfig:
    name: str
    kind: str
    dsn: Secret
    password: Secret | None
    timeout: float
    health: bool
    max_databases: int
    size_interval: float
    queries: tuple[QuerySpec, ...]

    def display_dsn(self) -> str:
        """The connection string without its password, for logs and the landing page."""
        params = psycopg.conninfo.conninfo_to_dict(self.dsn.reveal())
        params.pop("password", None)
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def parse_source(ctx: ParseContext, raw: dict[str, Any]) -> PostgresConfig:
    if any(not only_references(p) for p in written_passwords(raw["dsn"])):
        raise ctx.error(("dsn",), f"{dotted((*ctx.key, 'dsn'))} writes password= in the file "
                                  "(its value is not shown here); take it out of the dsn "
                                  "and give it as password: ${VAR} or password_file: "
                                  "/path/to/a/file")
    dsn = Secret(ctx.expand(raw, "dsn"))
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn.reveal())
    except psycopg.ProgrammingError:
        # psycopg's message quotes the string, which may hold a password: say it without.
        raise ctx.error(("dsn",), "dsn is not a libpq connection string ('host=... dbname=...') "
                                  "or a postgresql:// URI") from None
    if "password" in params:
        REDACTOR.add(Secret(str(params["password"])))
    REDACTOR.add(dsn)
    queries = tuple(_query(ctx, i, q) for i, q in enumerate(raw.get("queries", [])))
    _check_unique(ctx, queries)
    return PostgresConfig(
        name=raw["name"], kind="postgres", dsn=dsn, password=ctx.secret(raw, "password"),
        timeout=ctx.duration(raw, "timeout", DEFAULT_TIMEOUT), health=raw.get("health", True),
        max_databases=raw.get("max_databases", DEFAULT_MAX_DATABASES),
        size_interval=ctx.duration(raw, "size_interval", DEFAULT_SIZE_INTERVAL),
        queries=queries)


def written_passwords(dsn: str) -> list[str]:
    """The ``password=`` values of a DSN as written in the file, before ``${VAR}``
    expansion: a key-value string's, or a URI's query parameter. (A URI's
    ``user:password@`` is scrubbed from every message and log, and left to the user.)"""
    if dsn.startswith(("postgresql://", "postgres://")):
        return parse_qs(urlsplit(dsn).query).get("password", [])
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return []  # checked once expanded, with its own message
    return [str(params["password"])] if "password" in params else []


def _query(ctx: ParseContext, index: int, raw: dict[str, Any]) -> QuerySpec:
    at = ("queries", index)
    metrics = tuple(_metric(ctx, (*at, "metrics", i), m) for i, m in enumerate(raw["metrics"]))
    return QuerySpec(
        name=raw["name"], sql=raw["sql"],
        min_interval=ctx.duration(raw, "min_interval", 0.0),
        timeout=ctx.duration(raw, "timeout", 0.0) or None,
        max_series=raw.get("max_series", DEFAULT_MAX_SERIES), metrics=metrics)


def _metric(ctx: ParseContext, at: tuple[str | int, ...], raw: dict[str, Any]) -> MetricSpec:
    name = raw["name"]
    if name.startswith(RESERVED_PREFIX):
        raise ctx.error((*at, "name"), f"metric name {name!r} starts with {RESERVED_PREFIX!r}, "
                                       "which pagerkit keeps for its own metrics; name it "
                                       "for your application, such as ci_jobs_waiting")
    if raw["type"] == "counter" and not name.endswith("_total"):
        raise ctx.error((*at, "name"), f"counter {name!r} must end in _total, as Prometheus "
                                       f"names counters; write {name}_total")
    labels = tuple(raw.get("labels", []))
    if "source" in labels:
        raise ctx.error((*at, "labels"), "the label 'source' is set by pagerkit on every "
                                         "sample; alias the column, such as origin")
    if raw["value"] in labels:
        raise ctx.error((*at, "value"), f"column {raw['value']!r} is both the value and a "
                                        "label; a value column cannot label its own sample")
    return MetricSpec(name, raw["type"], raw["value"], labels, raw["help"])


def _check_unique(ctx: ParseContext, queries: tuple[QuerySpec, ...]) -> None:
    query_names: set[str] = set()
    metric_names: set[str] = set()
    for qi, query in enumerate(queries):
        if query.name in query_names:
            raise ctx.error(("queries", qi, "name"), f"query name {query.name!r} is used twice "
                                                     "in this source; give each its own")
        query_names.add(query.name)
        for mi, metric in enumerate(query.metrics):
            if metric.name in metric_names:
                raise ctx.error(("queries", qi, "metrics", mi, "name"),
                                f"metric {metric.name!r} is already defined by another "
                                "query of this source; one query per metric name")
            metric_names.add(metric.name)
