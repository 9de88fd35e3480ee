"""Known rows in a real database give exact samples."""

from __future__ import annotations

import textwrap

import psycopg
import pytest

from tests.harness.support import engine_from, samples, series, value

pytestmark = pytest.mark.integration

JOBS_QUERIES = """
    queries:
      - name: jobs_by_state
        sql: SELECT queue, state, count(*) AS jobs FROM jobs GROUP BY queue, state
        metrics:
          - {name: ci_jobs, type: gauge, value: jobs, labels: [queue, state], help: Jobs.}
      - name: oldest_queued_job
        sql: |
          SELECT queue, extract(epoch FROM now() - min(created_at)) AS age
          FROM jobs WHERE state = 'queued' GROUP BY queue
        metrics:
          - {name: ci_oldest_queued_job_age_seconds, type: gauge, value: age,
             labels: [queue], help: Oldest queued job.}
"""


def source_config(dsn: str, extra: str = JOBS_QUERIES, timeout: str = "5s") -> str:
    """A config with one source ``db``; ``extra`` holds more keys of that source."""
    return f"""
sources:
  - name: db
    kind: postgres
    dsn: "{dsn}"
    timeout: {timeout}
""" + textwrap.indent(textwrap.dedent(extra), "    ")


def test_application_queries_give_exact_samples(tmp_path, pg_dsn):
    """Rows per queue and state become ci_jobs; the oldest queued job's age per queue."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO jobs (queue, state, created_at) VALUES
              ('linux', 'queued', now() - interval '600 seconds'),
              ('linux', 'queued', now() - interval '60 seconds'),
              ('linux', 'running', now()),
              ('mac', 'queued', now() - interval '30 seconds'),
              ('mac', 'succeeded', now())""")
    _, engine = engine_from(tmp_path, source_config(pg_dsn))
    found = samples(engine.collect())
    assert value(found, "pagerkit_up", source="db", collector="postgres") == 1
    assert series(found, "ci_jobs") == {
        frozenset({("source", "db"), ("queue", "linux"), ("state", "queued")}): 2,
        frozenset({("source", "db"), ("queue", "linux"), ("state", "running")}): 1,
        frozenset({("source", "db"), ("queue", "mac"), ("state", "queued")}): 1,
        frozenset({("source", "db"), ("queue", "mac"), ("state", "succeeded")}): 1,
    }
    # now() is the query transaction's start: the ages are exact to the second.
    assert round(value(found, "ci_oldest_queued_job_age_seconds", source="db",
                       queue="linux")) == 600
    assert round(value(found, "ci_oldest_queued_job_age_seconds", source="db",
                       queue="mac")) == 30
    assert value(found, "pagerkit_query_up", source="db", query="jobs_by_state") == 1
    engine.close()


def test_health_reports_this_database(tmp_path, pg_dsn):
    """Health: max_connections, a long transaction, a lock waiter, counters per database."""
    dbname = psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]
    with psycopg.connect(pg_dsn) as holder, psycopg.connect(pg_dsn) as waiter:
        holder.execute("INSERT INTO jobs (queue) VALUES ('linux')")
        holder.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        holder.execute("SELECT pg_sleep(1.2)")
        waiter_thread_conn = waiter
        import threading

        blocked = threading.Thread(
            target=lambda: waiter_thread_conn.execute("SELECT count(*) FROM jobs"), daemon=True)
        blocked.start()
        _, engine = engine_from(tmp_path, source_config(pg_dsn, ""))
        import time

        time.sleep(0.3)
        found = samples(engine.collect())
        holder.rollback()
        blocked.join(5)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        max_connections = conn.execute("SHOW max_connections").fetchone()[0]
    assert value(found, "pagerkit_up", source="db", collector="postgres") == 1
    assert value(found, "pagerkit_postgres_max_connections", source="db") == int(max_connections)
    assert value(found, "pagerkit_postgres_lock_waiting_sessions", source="db") >= 1
    assert value(found, "pagerkit_postgres_oldest_transaction_age_seconds", source="db") >= 1.2
    assert value(found, "pagerkit_postgres_in_recovery", source="db") == 0
    assert value(found, "pagerkit_postgres_connections", source="db", state="active") >= 1
    assert value(found, "pagerkit_postgres_database_size_bytes", source="db",
                 database=dbname) > 1_000_000
    assert value(found, "pagerkit_postgres_database_xid_age", source="db", database=dbname) > 0
    assert value(found, "pagerkit_postgres_transactions_committed_total", source="db",
                 database=dbname) > 0
    assert value(found, "pagerkit_postgres_deadlocks_total", source="db", database=dbname) == 0
    engine.close()


def test_rolled_back_transactions_are_counted(tmp_path, pg_dsn):
    """Three rollbacks since the last collection show as exactly three more."""
    dbname = psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]
    _, engine = engine_from(tmp_path, source_config(pg_dsn, ""))
    before = value(samples(engine.collect()), "pagerkit_postgres_transactions_rolled_back_total",
                   source="db", database=dbname)
    with psycopg.connect(pg_dsn) as conn:
        for _ in range(3):
            conn.execute("SELECT 1")
            conn.rollback()
    # Statistics reach the shared counters when a session ends or at most once a second.
    import time

    time.sleep(1.2)
    after = value(samples(engine.collect()), "pagerkit_postgres_transactions_rolled_back_total",
                  source="db", database=dbname)
    assert after - before == 3
    engine.close()


def test_a_user_query_cannot_write(tmp_path, pg_dsn):
    """A query that tries to write fails inside its read-only transaction; nothing changes."""
    extra = """
    queries:
      - name: sneaky
        sql: "INSERT INTO jobs (queue) VALUES ('x') RETURNING 1 AS one"
        metrics:
          - {name: sneaky_one, type: gauge, value: one, help: Never served.}
      - name: switch_to_write
        sql: "SET TRANSACTION READ WRITE"
        metrics:
          - {name: switched, type: gauge, value: one, help: Never served.}
      - name: two_statements
        sql: "COMMIT; INSERT INTO jobs (queue) VALUES ('y')"
        metrics:
          - {name: two, type: gauge, value: one, help: Never served.}
"""
    _, engine = engine_from(tmp_path, source_config(pg_dsn, extra))
    found = samples(engine.collect())
    assert value(found, "pagerkit_up", source="db", collector="postgres") == 1
    for query in ("sneaky", "switch_to_write", "two_statements"):
        assert value(found, "pagerkit_query_up", source="db", query=query) == 0
        assert value(found, "pagerkit_query_errors_total", source="db", query=query,
                     kind="sql") == 1
    assert series(found, "sneaky_one") == {}
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    engine.close()


def test_database_sizes_are_read_every_size_interval(tmp_path, pg_dsn):
    """Sizes cost a stat() per file: read once per size_interval, served in between."""
    from pagerkit.collect.collectors.postgres import PostgresSource
    from pagerkit.collect.config import load_config
    from tests.harness.support import write_config

    now = [1000.0]
    config = load_config(str(write_config(tmp_path, source_config(pg_dsn, "size_interval: 1m"))),
                         environ={})
    source = PostgresSource(config.sources[0], clock=lambda: now[0])
    dbname = psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]

    def size() -> float:
        return value(samples(source.collect(now[0] + 5)),
                     "pagerkit_postgres_database_size_bytes", source="db", database=dbname)

    before = size()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler AS SELECT g, repeat('x', 200) AS t "
                     "FROM generate_series(1, 50000) g")
    now[0] += 59
    assert size() == before
    now[0] += 2
    assert size() > before + 5_000_000
    source.close()
