"""The shipped example config serves PostgreSQL and RabbitMQ metrics together."""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg
import pytest
import requests

from tests.conftest import ROOT, free_port, promtool_check_metrics
from tests.harness.exporter_process import ExporterProcess

pytestmark = pytest.mark.integration


def example_config(dsn: str, vhost: str, port: int) -> str:
    """examples/pagerkit.yaml, pointed at this test's database, vhost and port."""
    text = (ROOT / "examples" / "pagerkit.yaml").read_text()
    text = text.replace('"host=127.0.0.1 port=5432 dbname=ci user=postgres"', f'"{dsn}"')
    text = text.replace("vhosts: [ci]", f"vhosts: [{vhost}]")
    text = text.replace("@127.0.0.1:5672/ci", f"@127.0.0.1:5672/{vhost}")
    text = text.replace('"127.0.0.1:9630"', f'"127.0.0.1:{port}"')
    text = text.replace("playbooks_dir: ../playbooks", f"playbooks_dir: {ROOT / 'playbooks'}")
    text = text.replace("routing_file: ../alertmanager/routing.yaml",
                        f"routing_file: {ROOT / 'alertmanager' / 'routing.yaml'}")
    assert text.count(vhost) == 2 and text.count(dsn) == 1
    return text


def test_example_config_serves_both_halves(tmp_path, pg_dsn, rabbit_vhost, promtool):
    """The example generator moves the platform for a few seconds; the example config
    then serves the jobs, the queues and the canary, in an exposition promtool accepts."""
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{rabbit_vhost}"
    generator = str(ROOT / "examples" / "generate_jobs.py")
    subprocess.run([sys.executable, generator, "--dsn", pg_dsn, "--amqp", amqp, "--seed", "500",
                    "--rate", "10", "--duration", "3", "--stall", "env-03"],
                   check=True, timeout=60)
    with psycopg.connect(pg_dsn) as conn:
        queued = conn.execute("SELECT count(*) FROM jobs WHERE queue = 'env-03' "
                              "AND state = 'queued'").fetchone()[0]
    port = free_port()
    config = tmp_path / "pagerkit.yaml"
    config.write_text(example_config(pg_dsn, rabbit_vhost, port))
    proc = ExporterProcess(config, port)
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        assert proc.stop() == 0
    assert 'pagerkit_up{collector="postgres",source="ci-db"} 1.0' in text
    assert 'pagerkit_up{collector="rabbitmq",source="ci-mq"} 1.0' in text
    assert f'ci_jobs{{queue="env-03",source="ci-db",state="queued"}} {float(queued)}' in text
    assert re.search(r'ci_oldest_queued_job_age_seconds\{queue="env-03",source="ci-db"\} [0-9.]+',
                     text)
    consumers = (f'pagerkit_rabbitmq_queue_consumers{{queue="jobs.env-01",source="ci-mq",'
                 f'vhost="{rabbit_vhost}"}}')
    assert consumers in text
    assert 'pagerkit_rabbitmq_canary_success{source="ci-mq"} 1.0' in text
    checked = promtool_check_metrics(promtool, text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
