"""A database that is down, slow, hung or answers oddly costs one source, within its deadline."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.conftest import free_port
from tests.harness.netfaults import FreezableProxy, SilentPeer
from tests.harness.pgcluster import PrivateCluster
from tests.harness.support import engine_from, samples, series, value
from tests.integration.collect.test_postgres_values import source_config

pytestmark = pytest.mark.integration


def two_sources(bad_dsn: str, good_dsn: str, timeout: str, bad_extra: str = "") -> str:
    """A ``bad`` source under test beside a ``good`` one that must stay intact."""
    return source_config(bad_dsn, bad_extra, timeout).replace("name: db", "name: bad") + f"""
  - name: good
    kind: postgres
    dsn: "{good_dsn}"
    timeout: 5s
"""


def timed_collect(engine):  # type: ignore[no-untyped-def]
    start = time.monotonic()
    found = samples(engine.collect())
    return found, time.monotonic() - start


def test_a_dsn_that_points_nowhere(tmp_path, pg_dsn):
    """Nothing listens: the source is down with a connect error, the other source is up."""
    nowhere = f"host=127.0.0.1 port={free_port()} user=postgres dbname=x"
    _, engine = engine_from(tmp_path, two_sources(nowhere, pg_dsn, "3s"))
    found, elapsed = timed_collect(engine)
    assert elapsed < 3.5
    assert value(found, "pagerkit_up", source="bad", collector="postgres") == 0
    assert value(found, "pagerkit_collect_errors_total", source="bad", collector="postgres",
                 kind="connect") == 1
    assert value(found, "pagerkit_up", source="good", collector="postgres") == 1
    engine.close()


def test_a_peer_that_accepts_and_never_answers(tmp_path, pg_dsn):
    """The connect hangs: the scrape still returns at the 1 s deadline, as a timeout."""
    peer = SilentPeer()
    silent = f"host=127.0.0.1 port={peer.port} user=postgres dbname=x"
    _, engine = engine_from(tmp_path, two_sources(silent, pg_dsn, "1s"))
    try:
        found, elapsed = timed_collect(engine)
        assert elapsed < 1.5
        assert value(found, "pagerkit_up", source="bad", collector="postgres") == 0
        assert value(found, "pagerkit_collect_errors_total", source="bad",
                     collector="postgres", kind="timeout") == 1
        assert value(found, "pagerkit_up", source="good", collector="postgres") == 1
    finally:
        engine.close()
        peer.close()


def test_a_query_that_sleeps_past_the_timeout(tmp_path, pg_dsn):
    """pg_sleep(30) under a 2 s timeout: the scrape returns in time, the query is the only
    loss, and the other source is intact."""
    slow = """
    queries:
      - name: slow
        sql: SELECT pg_sleep(30) AS done, 1 AS one
        metrics:
          - {name: slow_one, type: gauge, value: one, help: Never served.}
    """
    _, engine = engine_from(tmp_path, two_sources(pg_dsn, pg_dsn, "2s", slow))
    found, elapsed = timed_collect(engine)
    assert elapsed < 2.5
    assert value(found, "pagerkit_up", source="bad", collector="postgres") == 1
    assert value(found, "pagerkit_query_up", source="bad", query="slow") == 0
    assert value(found, "pagerkit_query_errors_total", source="bad", query="slow",
                 kind="timeout") == 1
    assert value(found, "pagerkit_postgres_max_connections", source="bad") > 0
    assert value(found, "pagerkit_up", source="good", collector="postgres") == 1
    engine.close()


def test_a_proxy_that_freezes_mid_session(tmp_path, pg_dsn):
    """The network peer freezes with the connection open: the scrape returns at the
    deadline, the frozen connection is discarded, and within two scrapes of the thaw the
    source is up again, without a restart."""
    proxy = FreezableProxy(5432)
    via_proxy = pg_dsn.replace("port=5432", f"port={proxy.port}")
    _, engine = engine_from(tmp_path, two_sources(via_proxy, pg_dsn, "1s"))
    try:
        found, _ = timed_collect(engine)
        assert value(found, "pagerkit_up", source="bad", collector="postgres") == 1
        bad = engine.runners[0].source
        frozen_conn = bad._conn
        proxy.freeze()
        found, elapsed = timed_collect(engine)
        assert elapsed < 1.5
        assert value(found, "pagerkit_up", source="bad", collector="postgres") == 0
        assert value(found, "pagerkit_up", source="good", collector="postgres") == 1
        time.sleep(0.2)
        assert frozen_conn.closed or frozen_conn.broken
        assert bad._conn is not frozen_conn
        proxy.thaw()
        ups = [value(timed_collect(engine)[0], "pagerkit_up", source="bad",
                     collector="postgres") for _ in range(2)]
        assert ups[-1] == 1
    finally:
        engine.close()
        proxy.close()


def test_a_database_stopped_and_started_again(tmp_path):
    """The server stops mid-run: up goes to 0; it starts again: up is back to 1."""
    try:
        cluster = PrivateCluster(free_port())
    except (FileNotFoundError, OSError) as exc:
        pytest.fail(f"cannot create a private PostgreSQL cluster: {exc}")
    try:
        cluster.start()
        _, engine = engine_from(tmp_path, source_config(cluster.dsn, "", "2s"))
        assert value(samples(engine.collect()), "pagerkit_up", source="db",
                     collector="postgres") == 1
        cluster.stop()
        found, elapsed = timed_collect(engine)
        assert elapsed < 2.5
        assert value(found, "pagerkit_up", source="db", collector="postgres") == 0
        cluster.start()
        found = samples(engine.collect())
        assert value(found, "pagerkit_up", source="db", collector="postgres") == 1
        engine.close()
    finally:
        cluster.destroy()


ODD_QUERIES = """
queries:
  - name: odd
    sql: |
      SELECT q, n, t FROM (VALUES ('a', 1, 'one'), ('b', NULL, '2'), ('c', 3, 'x'))
        AS v(q, n, t)
    metrics:
      - {name: odd_number, type: gauge, value: n, labels: [q], help: Numbers.}
      - {name: odd_text, type: gauge, value: t, labels: [q], help: Text.}
  - name: many
    sql: SELECT g::text AS k, g AS v FROM generate_series(1, 50) g ORDER BY random()
    max_series: 10
    metrics:
      - {name: many_rows, type: gauge, value: v, labels: [k], help: Rows.}
  - name: broken
    sql: SELECT no_such_column FROM jobs
    metrics:
      - {name: broken_value, type: gauge, value: no_such_column, help: Never served.}
"""


def test_nulls_text_and_too_many_rows(tmp_path, pg_dsn):
    """A NULL or a text value costs that sample; rows past max_series are dropped, the
    same ones every scrape, and counted; a broken query costs only itself."""
    _, engine = engine_from(tmp_path, source_config(pg_dsn, ODD_QUERIES))
    kept = []
    for _ in range(3):
        found = samples(engine.collect())
        kept.append(series(found, "many_rows"))
    assert value(found, "pagerkit_up", source="db", collector="postgres") == 1
    assert series(found, "odd_number") == {
        frozenset({("source", "db"), ("q", "a")}): 1,
        frozenset({("source", "db"), ("q", "c")}): 3,
    }
    assert series(found, "odd_text") == {}
    assert value(found, "pagerkit_query_errors_total", source="db", query="odd",
                 kind="null") == 3
    assert value(found, "pagerkit_query_errors_total", source="db", query="odd",
                 kind="not_a_number") == 9
    assert kept[0] == kept[1] == kept[2]
    assert len(kept[0]) == 10
    assert value(found, "pagerkit_query_series_dropped_total", source="db", query="many") == 120
    assert value(found, "pagerkit_query_up", source="db", query="broken") == 0
    assert value(found, "pagerkit_query_errors_total", source="db", query="broken",
                 kind="sql") == 3
    assert value(found, "pagerkit_query_up", source="db", query="many") == 1
    engine.close()


def test_a_terminated_session_is_replaced(tmp_path, pg_dsn):
    """The server terminates the exporter's session: that scrape reports it, the next
    one reconnects."""
    _, engine = engine_from(tmp_path, source_config(pg_dsn, ""))
    assert value(samples(engine.collect()), "pagerkit_up", source="db", collector="postgres") == 1
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = 'pagerkit'")
    ups = [value(samples(engine.collect()), "pagerkit_up", source="db", collector="postgres")
           for _ in range(2)]
    assert ups == [0, 1]
    engine.close()


REPEATED_LABELS = """
    queries:
      - name: repeated
        sql: SELECT queue, state, n FROM repeated ORDER BY seq
        metrics:
          - {name: by_state, type: gauge, value: n, labels: [queue, state], help: By state.}
          - {name: by_queue, type: gauge, value: n, labels: [queue], help: By queue.}
"""


def test_a_repeated_label_set_exports_the_first_row_every_scrape(tmp_path, pg_dsn, caplog):
    """Rows that repeat a label set (queue a, state x twice; queue a three times for the
    metric without state): each series is the first such row in the query's ORDER BY on
    every scrape, while updates move the rows around on disk; the rows left out are
    counted each scrape and logged once."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE repeated (seq int, queue text, state text, n int)")
        conn.execute("INSERT INTO repeated VALUES (1, 'a', 'y', 1), (2, 'a', 'x', 2), "
                     "(3, 'b', 'x', 3), (4, 'a', 'x', 4)")
        _, engine = engine_from(tmp_path, source_config(pg_dsn, REPEATED_LABELS))
        try:
            for scrape in range(1, 5):
                families = {f.name: f for f in engine.collect()}
                by_queue = [(s.labels["queue"], s.value) for s in families["by_queue"].samples]
                by_state = [(s.labels["queue"], s.labels["state"], s.value)
                            for s in families["by_state"].samples]
                assert by_queue == [("a", 1), ("b", 3)]
                assert by_state == [("a", "x", 2), ("a", "y", 1), ("b", "x", 3)]
                found = samples(list(families.values()))
                assert value(found, "pagerkit_query_errors_total", source="db",
                             query="repeated", kind="duplicate") == 2 * scrape
                conn.execute("UPDATE repeated SET n = n WHERE seq IN (1, 2)")  # moves them
        finally:
            engine.close()
    logged = [r for r in caplog.records if "duplicate" in r.getMessage()]
    assert len(logged) == 1
    assert "query repeated returned 2 duplicate value(s)" in logged[0].getMessage()
