"""The example workload, run exactly as README.md and docker-compose.yml run it, keeps the
platform moving until it is stopped: jobs keep arriving, every queue but the stalled one
is consumed, and the stalled queue's backlog grows, which is what makes the stack page."""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pika
import psycopg
import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

QUEUES = ("env-01", "env-02", "env-03", "env-04")
STALLED = "env-03"


def readme_command() -> list[str]:
    """The generator's arguments as README.md's Configure section runs it (continuation
    lines joined, the trailing `&` dropped)."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^\.venv/bin/python examples/generate_jobs\.py (?:.*\\\n)*.*$", text,
                      re.MULTILINE)
    assert found, "README.md no longer runs examples/generate_jobs.py"
    words = shlex.split(found.group(0).replace("\\\n", " "))
    assert words[-1] == "&", words  # in the background, while the exporter runs
    return words[2:-1]


def compose_command() -> list[str]:
    """The generator's arguments as docker-compose.yml's workload service runs it."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["workload"]
    assert service["entrypoint"] == ["python", "examples/generate_jobs.py"]
    return list(service["command"])


def on_this_machine(args: list[str], dsn: str, amqp: str) -> list[str]:
    """The documented arguments with this test's database and vhost in place of `ci`."""
    moved = list(args)
    for flag, value in (("--dsn", dsn), ("--amqp", amqp)):
        moved[moved.index(flag) + 1] = value
    return moved


@dataclass(frozen=True)
class Sample:
    jobs: int
    """Every row of the table, seeded ones included."""
    finished: int
    queued: dict[str, int]
    """Queued rows per queue, in the table."""
    ready: dict[str, int]
    """Messages waiting per queue, in the broker."""
    consumers: dict[str, int]


def broker_queues(amqp: str) -> tuple[dict[str, int], dict[str, int]] | None:
    """Ready messages and consumers per queue, straight from the broker (the management
    API's figures lag by seconds); None until the workload has declared its queues."""
    with contextlib.closing(pika.BlockingConnection(pika.URLParameters(amqp))) as conn:
        channel = conn.channel()
        ready, consumers = {}, {}
        for queue in QUEUES:
            try:
                declared = channel.queue_declare(f"jobs.{queue}", passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                return None
            ready[queue] = declared.method.message_count
            consumers[queue] = declared.method.consumer_count
        return ready, consumers


def sample(dsn: str, amqp: str) -> Sample | None:
    """The broker first, then the table: a job is inserted before it is published, so the
    table is never behind the broker."""
    broker = broker_queues(amqp)
    if broker is None:
        return None
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2").fetchall()
    queued = {queue: 0 for queue in QUEUES}
    queued.update({queue: n for queue, state, n in rows if state == "queued"})
    return Sample(jobs=sum(n for _, _, n in rows),
                  finished=sum(n for _, state, n in rows if state in ("succeeded", "failed")),
                  queued=queued, ready=broker[0], consumers=broker[1])


def watch(proc: subprocess.Popen[str], dsn: str, amqp: str, seconds: float) -> list[Sample]:
    """Samples once a second until the stalled backlog has grown by 3 and 10 jobs have
    arrived after the first sample, for at least 8 s, or until `seconds` run out."""
    deadline = time.monotonic() + seconds
    samples: list[Sample] = []
    start = time.monotonic()
    while time.monotonic() < deadline and proc.poll() is None:
        now = sample(dsn, amqp)
        if now is not None:
            samples.append(now)
            first = samples[0]
            if (time.monotonic() - start >= 8 and now.jobs - first.jobs >= 10
                    and now.ready[STALLED] - first.ready[STALLED] >= 3):
                break
        time.sleep(1)
    return samples


@pytest.mark.parametrize("documented", [readme_command, compose_command],
                         ids=["readme", "docker-compose"])
def test_documented_workload_keeps_jobs_arriving_and_the_stalled_queue_growing(
        documented, pg_dsn, rabbit_vhost):
    """The documented command seeds, then keeps producing jobs until stopped: the stalled
    queue's backlog only grows, in the table and in the broker, and has no consumer, while
    every other queue is consumed and stays short. SIGTERM (`docker compose stop`) ends
    it at once, exit 0."""
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{rabbit_vhost}"
    args = on_this_machine(documented(), pg_dsn, amqp)
    assert "--seed" in args and args[args.index("--stall") + 1] == STALLED, args
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "generate_jobs.py"),
                             *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        samples = watch(proc, pg_dsn, amqp, seconds=45)
        assert proc.poll() is None, f"the workload exited ({proc.returncode}): " + \
            (proc.stdout.read() if proc.stdout else "")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    first, last = samples[0], samples[-1]
    seed = int(args[args.index("--seed") + 1])
    assert first.finished >= seed  # the seeded history, done before the traffic starts
    assert last.jobs - first.jobs >= 10, (first, last)  # jobs keep arriving
    backlog = [s.ready[STALLED] for s in samples]
    assert backlog == sorted(backlog) and backlog[-1] - backlog[0] >= 3, backlog
    assert [s.queued[STALLED] >= s.ready[STALLED] for s in samples] == [True] * len(samples)
    assert last.consumers == {q: 0 if q == STALLED else 1 for q in QUEUES}, last.consumers
    served = [q for q in QUEUES if q != STALLED]
    longest = max(max(s.ready[q], s.queued[q]) for s in samples for q in served)
    assert longest <= 10, samples  # served queues stay short: their workers keep up
    assert last.finished > first.finished  # and their jobs get done
