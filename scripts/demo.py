#!/usr/bin/env python3
"""The native demo: a CI platform whose backlog builds up until somebody is paged.

It creates a database and a vhost of its own and starts the example traffic (after a
quiet minute, the workers of jobs.env-03 stop: jobs keep arriving, nobody takes them),
the exporter with the example config, Prometheus with the demo environment's rules
(rules/generated/demo: the production alerts, paging in seconds) and Alertmanager with
the generated config, and the relay, which sends its pushes, SMS and calls to the demo's
phones: a stand-in for Twilio and Pushover that prints what each member's phone shows
(the summary, the acknowledgement link, the playbook link). Open the link in a browser and
press a button, or press Enter here (the newest page's button is tapped, or 1 pressed on
a call): the acknowledgement is a silence, and the later tiers stop. Without a terminal,
it acknowledges by itself after --ack-after seconds and checks that nothing more comes.
Ctrl-C writes the report of what was paged, then stops everything it started.
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
from demo_phone import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, PUSHOVER_TOKEN, DemoPhone

from pagerkit.relay.links import LinkSigner

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
RABBIT_API = "http://127.0.0.1:15672/api"
GUEST = ("guest", "guest")


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
    """A child in a process group of its own: Ctrl-C at a terminal sends SIGINT to the
    whole foreground group, and Prometheus and Alertmanager must outlive it until the demo
    has read them for the report; the demo stops each child itself, in reverse order. No
    stdin: a background group that reads the terminal is stopped by SIGTTIN."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, process_group=0)
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


def prometheus_config(exporter_port: int, relay_port: int) -> dict[str, object]:
    return {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": [str(p) for p in sorted((ROOT / "rules/generated/demo").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "pagerkit",
             "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]},
            {"job_name": "pagerkit-relay",
             "static_configs": [{"targets": [f"127.0.0.1:{relay_port}"]}]}],
    }


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.exceptions.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"demo: {url} did not answer within {seconds:.0f}s")


def alertmanager_config(work: Path, relay: str) -> Path:
    """The generated config, pointed at the demo's relay and its webhook password."""
    folder = work / "alertmanager"
    shutil.copytree(ROOT / "alertmanager" / "templates", folder / "templates")
    text = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    routing = yaml.safe_load((ROOT / "alertmanager" / "routing.yaml").read_text())
    text = text.replace(routing["relay_url"], relay).replace(
        routing["relay_auth"]["password_file"], str(work / "relay_password"))
    (folder / "alertmanager.yml").write_text(text)
    return folder / "alertmanager.yml"


PHONES = {"alice": "+4915100000001", "bob": "+12125550002", "carol": "+64211234567"}


def relay_config(work: Path, port: int, alertmanager: str, phone: str, key: str) -> Path:
    """The relay's config: the demo's phones stand in for Twilio and Pushover."""
    (work / "relay_password").write_text(uuid.uuid4().hex)
    (work / "signing_key").write_text(key)
    members = {name: {"phone": number, "pushover_user_key": f"u{name}"}
               for name, number in PHONES.items()}
    config = {"relay": {
        "listen_address": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}",
        "routing_file": str(ROOT / "alertmanager" / "routing.yaml"),
        "alertmanagers": [alertmanager], "signing_key_file": "signing_key",
        "webhook_auth": {"username": "alertmanager", "password_file": "relay_password"},
        "twilio": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                   "from_number": FROM_NUMBER, "api_url": phone},
        "pushover": {"token": PUSHOVER_TOKEN, "api_url": phone}, "members": members}}
    (work / "relay.yaml").write_text(yaml.safe_dump(config))
    return work / "relay.yaml"


def interactive(pager: DemoPhone) -> bool:
    """Enter acknowledges what is paging; Ctrl-C ends the demo."""
    import select

    say("open a page's link in a browser to acknowledge, or press Enter here; Ctrl-C stops")
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 1.0)
        if ready:
            sys.stdin.readline()
            if not pager.acknowledge():
                say("nothing is paging yet")


def unattended(pager: DemoPhone, timeout: float, ack_after: float, quiet: float) -> bool:
    """Acknowledge ack_after seconds after the first page, then check that no later tier of
    an acknowledged alert arrives for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    while not pager.pages:
        if time.monotonic() > deadline:
            say("demo: no page arrived in time")
            return False
        time.sleep(0.5)
    time.sleep(ack_after)
    pager.acknowledge()
    time.sleep(quiet)
    late = pager.pages_after_ack()
    if late:
        say(f"demo: {len(late)} page(s) arrived after the acknowledgement")
        return False
    say("nothing more came after the acknowledgement: the escalation stopped")
    return True


def report(prometheus: str, alertmanager: str) -> list[Path]:
    """The on-call report of what the demo paged, demo-report.html and demo-report.md in
    the repository; returns the files written. The previous demo's files are removed
    first, so that a file the demo names is always this run's. Stops at the first failure,
    whose message the report command printed."""
    written: list[Path] = []
    for name in ("demo-report.html", "demo-report.md"):
        path = ROOT / name
        path.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "pagerkit", "report", "--since", "30m",
                               "--prometheus", prometheus, "--alertmanager", alertmanager,
                               "-o", str(path)], stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0 or not path.is_file() or path.stat().st_size == 0:
            say(f"demo: the on-call report failed (exit {done.returncode}); "
                f"{name} was not written")
            break
        written.append(path)
    if written:
        also = " (and .md)" if len(written) == 2 else ""
        say(f"the on-call report of this demo: {written[0]}{also}")
    return written


def interrupt_on_signals() -> None:
    """SIGTERM, and SIGHUP when the terminal closes, end the demo as Ctrl-C does: its
    children are in process groups of their own, so only the demo's cleanup stops them."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=240,
                        help="seconds to wait for the first page")
    parser.add_argument("--ack-after", type=float, default=40,
                        help="without a terminal: seconds from the first page to the "
                             "acknowledgement")
    parser.add_argument("--quiet-start", type=float, default=60,
                        help="seconds of a healthy platform before a queue stalls")
    parser.add_argument("--quiet", type=float, default=60,
                        help="without a terminal: seconds to watch after acknowledging")
    args = parser.parse_args()
    for binary, package in (("prometheus", "prometheus"),
                            ("prometheus-alertmanager", "prometheus-alertmanager")):
        if shutil.which(binary) is None:
            raise SystemExit(f"demo: {binary} is missing; run `make services` as root or "
                             f"apt-get install {package}")
    interrupt_on_signals()
    suffix = uuid.uuid4().hex[:8]
    # The suffix names the database, the vhost and the files: every process the demo starts
    # has it in its command line.
    work = Path(tempfile.mkdtemp(prefix=f"pagerkit-demo-{suffix}-"))
    # The demo rules' playbook links point at localhost:9630: use it when it is free.
    exporter_port, prometheus_port = port_or_free(9630), free_port()
    alertmanager_port, relay_port = free_port(), port_or_free(9632)
    alertmanager_url = f"http://127.0.0.1:{alertmanager_port}"
    name = f"pagerkit-demo-{suffix}"
    with database(f"pagerkit_demo_{suffix}") as dsn, vhost(name):
        amqp = f"amqp://guest:guest@127.0.0.1:5672/{name}"
        subprocess.run([sys.executable, str(ROOT / "examples/generate_jobs.py"), "--dsn", dsn,
                        "--amqp", amqp, "--create", "--seed", "2000", "--rate", "0"],
                       check=True)
        (work / "pagerkit.yaml").write_text(exporter_config(dsn, name, exporter_port).replace(
            "playbooks_dir: ../playbooks", f"playbooks_dir: {ROOT / 'playbooks'}").replace(
            "routing_file: ../alertmanager", f"routing_file: {ROOT / 'alertmanager'}"))
        prom_config = prometheus_config(exporter_port, relay_port)
        prom_config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        relay_url = f"http://127.0.0.1:{relay_port}"
        am_config = alertmanager_config(work, relay_url)
        key = uuid.uuid4().hex + uuid.uuid4().hex
        members = {**{number: name for name, number in PHONES.items()},
                   **{f"u{name}": name for name in PHONES}}
        pager = DemoPhone(members, say, LinkSigner(key, 86400))
        traffic = [sys.executable, str(ROOT / "examples/generate_jobs.py"), "--dsn", dsn,
                   "--amqp", amqp, "--rate", "3", "--stall", "env-03",
                   "--stall-after", str(args.quiet_start)]
        exporter = [sys.executable, "-m", "pagerkit", "serve", "--config",
                    str(work / "pagerkit.yaml")]
        relay = [sys.executable, "-m", "pagerkit", "relay", "--config",
                 str(relay_config(work, relay_port, alertmanager_url, pager.url, key))]
        prometheus = [shutil.which("prometheus") or "prometheus",
                      f"--config.file={work / 'prometheus.yml'}",
                      f"--storage.tsdb.path={work / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{prometheus_port}"]
        alertmanager = [shutil.which("prometheus-alertmanager") or "alertmanager",
                        f"--config.file={am_config}", f"--storage.path={work / 'am'}",
                        f"--web.listen-address=127.0.0.1:{alertmanager_port}",
                        "--cluster.listen-address="]
        ok = False
        try:
            with process(traffic, work / "traffic.log"), \
                    process(exporter, work / "exporter.log"), \
                    process(relay, work / "relay.log"), \
                    process(alertmanager, work / "alertmanager.log"), \
                    process(prometheus, work / "prometheus.log"):
                wait_http(f"http://127.0.0.1:{exporter_port}/metrics")
                wait_http(f"http://127.0.0.1:{prometheus_port}/-/ready")
                wait_http(f"{alertmanager_url}/-/ready")
                wait_http(f"{relay_url}/-/healthy")
                say(f"exporter:     http://127.0.0.1:{exporter_port}/ (playbooks too)")
                say(f"prometheus:   http://127.0.0.1:{prometheus_port}/alerts")
                say(f"alertmanager: {alertmanager_url}/#/alerts")
                say(f"relay:        {relay_url}/metrics")
                say(f"files:        {work} (logs; removed when the demo stops)")
                say(f"jobs arrive on four queues, all served; in {args.quiet_start:g} s the "
                    "workers of jobs.env-03 stop ...")
                try:
                    ok = interactive(pager) if sys.stdin.isatty() else \
                        unattended(pager, args.timeout, args.ack_after, args.quiet)
                except KeyboardInterrupt:
                    say("stopping: the report first, while Prometheus and Alertmanager "
                        "still run, then everything the demo started")
                    ok = True
                finally:
                    ok = bool(report(f"http://127.0.0.1:{prometheus_port}",
                                     alertmanager_url)) and ok
        except KeyboardInterrupt:  # before the first page, or a second Ctrl-C
            say("stopping")
            ok = True
        finally:
            pager.close()
    shutil.rmtree(work, ignore_errors=True)
    say("stopped: what the demo started and created is gone")
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
