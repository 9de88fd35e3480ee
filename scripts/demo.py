#!/usr/bin/env python3
"""The native demo: a CI platform whose backlog builds up until pagerkit's alerts fire.

It creates a database and a vhost of its own, starts the example traffic with one queue
stalled (jobs arrive on jobs.env-03, no worker takes them), the exporter with the
example config, and Prometheus with the demo environment's rules (rules/generated/demo:
the production alerts, paging in seconds). It then prints each alert as it goes pending
and fires, tier by tier, with its playbook link, and cleans up after itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
RABBIT_API = "http://127.0.0.1:15672/api"
GUEST = ("guest", "guest")
WANTED = ("QueueWithoutConsumers", "JobsWaitingTooLong")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_or_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)


@contextlib.contextmanager
def database(name: str) -> Iterator[str]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def vhost(name: str) -> Iterator[str]:
    yield name
    requests.delete(f"{RABBIT_API}/vhosts/{name}", auth=GUEST, timeout=30)


@contextlib.contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def exporter_config(dsn: str, vhost_name: str, port: int) -> str:
    text = (ROOT / "examples" / "pagerkit.yaml").read_text()
    return (text.replace('"host=127.0.0.1 port=5432 dbname=ci user=postgres"', f'"{dsn}"')
            .replace("vhosts: [ci]", f"vhosts: [{vhost_name}]")
            .replace("@127.0.0.1:5672/ci", f"@127.0.0.1:5672/{vhost_name}")
            .replace('"127.0.0.1:9630"', f'"127.0.0.1:{port}"'))


def prometheus_config(exporter_port: int) -> dict[str, object]:
    return {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [str(p) for p in sorted((ROOT / "rules/generated/demo").glob("*.yml"))],
        "scrape_configs": [{"job_name": "pagerkit",
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.exceptions.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"demo: {url} did not answer within {seconds:.0f}s")


def watch(prometheus: str, seconds: float) -> bool:
    """Print alert state changes until every wanted alert fired at every tier."""
    seen: dict[tuple[str, str, str], str] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        for alert in alerts:
            labels = alert["labels"]
            key = (labels["alertname"], labels.get("tier", "-"), labels.get("queue", ""))
            if seen.get(key) != alert["state"]:
                seen[key] = alert["state"]
                tier = f" tier {labels['tier']}" if "tier" in labels else ""
                say(f"{alert['state']:>7}  {labels['alertname']}{tier} "
                    f"[{labels.get('severity')}] {alert['annotations'].get('summary', '')}")
                if alert["state"] == "firing" and labels.get("tier") == "1":
                    say(f"         {alert['annotations'].get('description', '')}")
                    say(f"         playbook: {alert['annotations'].get('runbook_url', '')}")
        done = {(name, "4") for name in WANTED}
        if done <= {(k[0], k[1]) for k, state in seen.items() if state == "firing"}:
            return True
        time.sleep(1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for pages")
    args = parser.parse_args()
    if shutil.which("prometheus") is None:
        raise SystemExit("demo: prometheus is missing; run `make services` as root or "
                         "apt-get install prometheus")
    suffix = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="pagerkit-demo-"))
    # The demo rules' playbook links point at localhost:9630: use it when it is free.
    exporter_port, prometheus_port = port_or_free(9630), free_port()
    name = f"pagerkit-demo-{suffix}"
    with database(f"pagerkit_demo_{suffix}") as dsn, vhost(name):
        amqp = f"amqp://guest:guest@127.0.0.1:5672/{name}"
        subprocess.run([sys.executable, str(ROOT / "examples/generate_jobs.py"), "--dsn", dsn,
                        "--amqp", amqp, "--create", "--seed", "2000", "--rate", "0"],
                       check=True)
        (work / "pagerkit.yaml").write_text(exporter_config(dsn, name, exporter_port).replace(
            "playbooks_dir: ../playbooks", f"playbooks_dir: {ROOT / 'playbooks'}").replace(
            "routing_file: ../alertmanager", f"routing_file: {ROOT / 'alertmanager'}"))
        (work / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(exporter_port)))
        traffic = [sys.executable, str(ROOT / "examples/generate_jobs.py"), "--dsn", dsn,
                   "--amqp", amqp, "--rate", "3", "--stall", "env-03"]
        exporter = [sys.executable, "-m", "pagerkit", "serve", "--config",
                    str(work / "pagerkit.yaml")]
        prometheus = [shutil.which("prometheus") or "prometheus",
                      f"--config.file={work / 'prometheus.yml'}",
                      f"--storage.tsdb.path={work / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{prometheus_port}"]
        with process(traffic, work / "traffic.log"), \
                process(exporter, work / "exporter.log"), \
                process(prometheus, work / "prometheus.log"):
            wait_http(f"http://127.0.0.1:{exporter_port}/metrics")
            wait_http(f"http://127.0.0.1:{prometheus_port}/-/ready")
            say(f"exporter:   http://127.0.0.1:{exporter_port}/metrics")
            say(f"prometheus: http://127.0.0.1:{prometheus_port}/alerts")
            say("jobs arrive on four queues; no worker takes jobs.env-03 ...")
            ok = watch(f"http://127.0.0.1:{prometheus_port}", args.timeout)
    shutil.rmtree(work, ignore_errors=True)
    say("every escalation tier fired: 1 (push), 2 (SMS), 3 (voice), 4 (the secondary)"
        if ok else
        "demo: not every alert fired in time")
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
