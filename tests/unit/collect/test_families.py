"""Pure functions: rows to samples, sanitizing, health snapshot to families."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from prometheus_client.core import GaugeMetricFamily

from pagerkit.collect.collectors.postgres_config import MetricSpec, QuerySpec
from pagerkit.collect.collectors.postgres_families import (
    DatabaseStats,
    HealthSnapshot,
    health_families,
    query_rows,
)
from pagerkit.collect.families import clean_label_value, sanitize
from tests.harness.support import samples, series, value

SPEC = QuerySpec("q", "SELECT", 0.0, None, 3, (
    MetricSpec("jobs", "gauge", "n", ("queue",), "Jobs."),
))


def test_rows_sorted_before_the_cap():
    """The cap keeps the first label sets in sorted order, whatever the row order."""
    rows = [("d", 4), ("b", 2), ("e", 5), ("a", 1), ("c", 3)]
    result = query_rows(SPEC, ["queue", "n"], rows)
    assert result.samples["jobs"] == [({"queue": "a"}, 1.0), ({"queue": "b"}, 2.0),
                                      ({"queue": "c"}, 3.0)]
    assert result.dropped == 2


def test_bad_values_cost_their_sample():
    rows = [("a", None), ("b", "text"), ("c", Decimal("2.5")), ("d", True), ("c", 9)]
    result = query_rows(dataclasses.replace(SPEC, max_series=10), ["queue", "n"], rows)
    assert result.samples["jobs"] == [({"queue": "c"}, 2.5), ({"queue": "d"}, 1.0)]
    assert result.invalid == {"null": 1, "not_a_number": 1, "duplicate": 1}


TWO_METRICS = QuerySpec("q", "SELECT", 0.0, None, 10, (
    MetricSpec("by_state", "gauge", "n", ("queue", "state"), "Jobs by state."),
    MetricSpec("by_queue", "gauge", "n", ("queue",), "Jobs by queue."),
))
ROWS = [("a", "y", 1), ("a", "x", 2), ("b", "x", 3), ("a", "x", 4)]


def test_a_repeated_label_set_exports_the_first_row_in_query_order():
    """(a, x) twice, and queue a three times for the metric that has only the queue
    label: each exports the first such row of the query, in either row order; a row left
    out of any metric counts once as a duplicate."""
    result = query_rows(TWO_METRICS, ["queue", "state", "n"], ROWS)
    assert result.samples["by_state"] == [({"queue": "a", "state": "x"}, 2.0),
                                          ({"queue": "a", "state": "y"}, 1.0),
                                          ({"queue": "b", "state": "x"}, 3.0)]
    assert result.samples["by_queue"] == [({"queue": "a"}, 1.0), ({"queue": "b"}, 3.0)]
    assert result.invalid["duplicate"] == 2
    backwards = query_rows(TWO_METRICS, ["queue", "state", "n"], ROWS[::-1])
    assert backwards.samples["by_state"][0] == ({"queue": "a", "state": "x"}, 4.0)
    assert backwards.samples["by_queue"][0] == ({"queue": "a"}, 4.0)
    assert backwards.invalid["duplicate"] == 2


def test_clean_label_value():
    assert clean_label_value("ok") == "ok"
    assert clean_label_value("a\udc80b") == "a\ufffdb"


def test_sanitize_merges_sources_and_drops_repeats():
    one = GaugeMetricFamily("x", "X.", labels=["source", "v"])
    one.add_metric(["a", "p\ud800"], 1)
    one.add_metric(["a", "p\udfff"], 2)  # cleans to the same series: dropped
    two = GaugeMetricFamily("x", "X.", labels=["source", "v"])
    two.add_metric(["b", "q"], 3)
    found = samples(sanitize([one, two]))
    assert series(found, "x") == {
        frozenset({("source", "a"), ("v", "p\ufffd")}): 1,
        frozenset({("source", "b"), ("v", "q")}): 3,
    }


SNAPSHOT = HealthSnapshot(
    server_version="15.4", max_connections=100, connections=(("active", 3), ("idle", 2)),
    oldest_transaction_age=12.5, lock_waiting_sessions=1, in_recovery=True,
    standby_replay_lag=4.0, replicas=(("replica-1", 0.5),),
    databases=(DatabaseStats("app", 1e6, 1000, 10, 1, 0),
               DatabaseStats("zz", 2e6, 2000, 20, 2, 1)))


def test_health_families_with_a_cap_on_databases():
    found = samples(health_families("db", SNAPSHOT, max_databases=1))
    assert value(found, "pagerkit_postgres_connections", source="db", state="active") == 3
    assert value(found, "pagerkit_postgres_connections", source="db", state="unknown") == 0
    assert value(found, "pagerkit_postgres_standby_replay_lag_seconds", source="db") == 4
    assert value(found, "pagerkit_postgres_replication_lag_seconds", source="db",
                 replica="replica-1") == 0.5
    assert value(found, "pagerkit_postgres_database_xid_age", source="db", database="app") == 1000
    assert ("pagerkit_postgres_database_xid_age",
            frozenset({("source", "db"), ("database", "zz")})) not in found
    assert value(found, "pagerkit_postgres_info", source="db", server_version="15.4") == 1


def golden_text() -> str:
    """A known state's exposition: the health families of SNAPSHOT and one user query."""
    from prometheus_client.exposition import generate_latest

    from pagerkit.collect.collectors.postgres_families import application_families
    from pagerkit.collect.server import _Families

    rows = query_rows(SPEC, ["queue", "n"], [("linux", 4), ("mac", 1)])
    families = sanitize([*health_families("db", SNAPSHOT, 10),
                         *application_families("db", SPEC.metrics, rows.samples)])
    return generate_latest(_Families(families)).decode()  # type: ignore[arg-type]


def test_golden_scrape_is_unchanged():
    """The checked-in golden file is what a known state encodes to; regenerate it with
    PAGERKIT_UPDATE_GOLDEN=1 when a metric changes on purpose, and review the diff."""
    import os

    from tests.conftest import ROOT

    golden = ROOT / "tests" / "golden" / "postgres.prom"
    if os.environ.get("PAGERKIT_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(golden_text())
    assert golden.read_text() == golden_text()
