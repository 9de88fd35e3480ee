"""The generated rules: promtool accepts and tests them, and a real Prometheus scraping a
real exporter fires them when a threshold is broken for real."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import time

import pika
import psycopg
import pytest
import yaml

from pagerkit.bundle.alerts import load_spec
from pagerkit.bundle.validate import PROMETHEUS_OWN, metric_names
from tests.conftest import ROOT, free_port, require
from tests.harness.exporter_process import ExporterProcess
from tests.integration.collect.test_example import example_config

pytestmark = pytest.mark.integration

GENERATED = sorted((ROOT / "rules" / "generated").rglob("*.rules.yml"))


def test_promtool_lint_fatal_accepts_every_generated_file(promtool):
    """--lint-fatal: without it promtool exits 0 on a duplicated alert."""
    assert GENERATED
    done = subprocess.run([promtool, "check", "rules", "--lint-fatal", *map(str, GENERATED)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass(promtool):
    tests = sorted(str(p) for p in (ROOT / "rules" / "tests").glob("*.test.yml"))
    done = subprocess.run([promtool, "test", "rules", *tests], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(tests)


def test_every_alert_and_every_tier_has_a_promtool_test():
    """Each alert is asserted firing in some test; each critical alert at every tier."""
    fired: dict[str, set[str]] = {}
    for path in (ROOT / "rules" / "tests").glob("*.test.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                for alert in check.get("exp_alerts") or []:
                    fired.setdefault(check["alertname"], set()).add(
                        str(alert["exp_labels"].get("tier", "")))
    for alert in load_spec(ROOT).alerts:
        assert alert.name in fired, f"{alert.name} has no promtool test that sees it fire"
        if alert.severity == "critical":
            assert fired[alert.name] == {"1", "2", "3", "4"}, alert.name


def _rule_metrics() -> set[str]:
    names: set[str] = set()
    for alert in load_spec(ROOT).alerts:
        names |= metric_names(alert.render(alert.expr))
    return names - PROMETHEUS_OWN


def test_rules_fire_in_a_real_prometheus(tmp_path, pg_dsn, rabbit_vhost):
    """Prometheus scrapes a real exporter and a real relay with the demo environment's rules
    loaded: every metric a rule uses is there, and a job queued too long and a queue
    without consumers make their alerts fire, with their playbook links."""
    from tests.harness.prometheus_process import PrometheusProcess
    from tests.harness.relay import (
        RunningRelay,
        relay_yaml,
        routing_yaml,
        write_secrets,
    )

    require(shutil.which("prometheus") is not None, "prometheus (Debian package prometheus)")
    exporter_port = free_port()
    config = tmp_path / "pagerkit.yaml"
    config.write_text(example_config(pg_dsn, rabbit_vhost, exporter_port))
    exporter = ExporterProcess(config, exporter_port)
    relay_port, nowhere = free_port(), f"http://127.0.0.1:{free_port()}"
    routing = tmp_path / "routing.yaml"
    routing.write_text(routing_yaml(f"http://127.0.0.1:{relay_port}", nowhere,
                                    write_secrets(tmp_path)))
    relay = RunningRelay(relay_yaml(tmp_path, relay_port, routing, [nowhere], nowhere))
    prometheus = PrometheusProcess(free_port(), {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((ROOT / "rules/generated/demo").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "pagerkit",
             "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]},
            {"job_name": "pagerkit-relay",
             "static_configs": [{"targets": [f"127.0.0.1:{relay_port}"]}]}],
    })
    try:
        _break_thresholds(pg_dsn, rabbit_vhost)
        firing = _wait_firing(prometheus, {"JobsWaitingTooLong", "QueueWithoutConsumers"}, 90)
        assert firing["JobsWaitingTooLong"]["labels"]["queue"] == "env-02"
        assert firing["QueueWithoutConsumers"]["labels"]["queue"] == "jobs.env-02"
        assert firing["QueueWithoutConsumers"]["annotations"]["runbook_url"].endswith(
            "/playbooks/jobs.md#queuewithoutconsumers")
        missing = sorted(n for n in _rule_metrics() if not _known(prometheus, n))
        assert missing == [], f"metrics the rules use but nothing serves: {missing}"
        empty = [t["expr"] for t in _dashboard_targets()
                 if not prometheus.api("query", query=t["expr"])["result"]]
        assert empty == [], f"dashboard queries without data: {empty}"
    finally:
        prometheus.stop()
        relay.stop()
        exporter.stop()


def _dashboard_targets() -> list[dict[str, str]]:
    import json

    return [target for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
            for panel in json.loads(path.read_text())["panels"] for target in panel["targets"]]


def _break_thresholds(dsn: str, vhost: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO jobs (queue, created_at) VALUES ('env-02', %s)",
                     (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5),))
    params = pika.ConnectionParameters("127.0.0.1", 5672, vhost,
                                       pika.PlainCredentials("guest", "guest"))
    with pika.BlockingConnection(params) as conn:
        channel = conn.channel()
        channel.queue_declare("jobs.env-02", durable=True)
        channel.basic_publish("", "jobs.env-02", b"42")


def _wait_firing(prometheus, names: set[str], seconds: float) -> dict:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + seconds
    firing: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        for alert in prometheus.api("alerts")["alerts"]:
            if alert["state"] == "firing" and alert["labels"].get("tier", "1") == "1":
                firing[alert["labels"]["alertname"]] = alert
        if names <= set(firing):
            return firing
        time.sleep(1)
    pytest.fail(f"not firing within {seconds}s: {sorted(names - set(firing))}; "
                f"firing: {sorted(firing)}")


def _known(prometheus, name: str) -> bool:  # type: ignore[no-untyped-def]
    """Served by the exporter: as series, or as a family without series right now (a
    replica lag on a server without replicas), which Prometheus keeps as metadata."""
    if prometheus.api("series", **{"match[]": name}):
        return True
    family = name.removesuffix("_total")
    return any(prometheus.api("metadata", metric=n) for n in {name, family})


def test_generated_files_are_fresh():
    done = subprocess.run([sys.executable, "-m", "pagerkit", "generate", "--check", "--root",
                           str(ROOT)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
