"""What every exporter benchmark here needs: start and stop processes, scrape, read /proc,
summarise, and write the results into bench/README.md.

Nothing in it knows a backend: bench/postgres_bench.py and bench/rabbitmq_bench.py say what
to start and what to compare. Linux only (/proc).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "bench" / "README.md"
PAGERKIT = ROOT / ".venv" / "bin" / "pagerkit"
PAGERKIT_HINT = ("create the project venv: python3 -m venv .venv && "
                 ".venv/bin/pip install -e '.[test]'")

# What Prometheus 2.x sends: OpenMetrics preferred, gzip accepted, its scrape timeout told.
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


class BenchError(Exception):
    """Something the person running the benchmark must fix; printed without a traceback."""


def require(path: Path, hint: str) -> Path:
    if not path.exists():
        raise BenchError(f"{path} not found: {hint}")
    return path


def on_sigterm(signum: int, frame: object) -> None:
    """Install with ``signal.signal(signal.SIGTERM, on_sigterm)``: a SIGTERM then unwinds
    through every ``finally`` (processes stopped, databases and vhosts removed)."""
    raise SystemExit(128 + signum)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A loopback port free right now (another process could still take it first)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], env: dict[str, str], url: str,
            logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The process, started and answering ``url`` with 200; stopped on the way out,
    whatever happened. Its output goes to ``logfile``, quoted when it fails to start."""
    with logfile.open("wb") as out:
        proc = subprocess.Popen(list(argv), env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(proc, name, url, logfile)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_ready(proc: subprocess.Popen[bytes], name: str, url: str, logfile: Path,
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode} before serving; "
                             f"its log ({logfile}):\n{tail(logfile)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, headers=SCRAPE_HEADERS, timeout=15).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{name}: {url} did not answer 200 within {timeout:g}s; its log:\n"
                     f"{tail(logfile)}")


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), in seconds; a tick is 10 ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_of(command: str, argument: str) -> int | None:
    """The process whose name (``comm``) is ``command`` and whose command line holds
    ``argument``; the oldest such if there are several, None if there is none."""
    found: list[tuple[int, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
            if (entry / "comm").read_text().strip() != command:
                continue
            if argument.encode() in (entry / "cmdline").read_bytes():
                started = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])
                found.append((started, int(entry.name)))
    return min(found)[1] if found else None


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


def scrape(session: requests.Session, url: str) -> tuple[float, str]:
    """One scrape: milliseconds until the whole body is in, as sent (inflating a gzipped
    body is the scraper's work, done after the clock stops, as for the bare fetches that
    ask for none), and the decoded body."""
    start = time.perf_counter()
    response = session.get(url, headers=SCRAPE_HEADERS, timeout=30, stream=True)
    sent = response.raw.read(decode_content=False)
    elapsed = (time.perf_counter() - start) * 1000
    response.close()
    if response.headers.get("Content-Encoding", "").lower() == "gzip":
        sent = gzip.decompress(sent)
    body = sent.decode(response.encoding or "utf-8", "replace")
    if response.status_code != 200:
        raise BenchError(f"{url} answered {response.status_code}: {body[:200]}")
    return elapsed, body


def series_in(body: str) -> int:
    """Samples in an exposition (text or OpenMetrics): every line not a comment."""
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


def p95(values: Sequence[float]) -> float:
    """The 95th percentile, nearest rank: a value that was measured, never interpolated."""
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def collect_duration_ms(body: str) -> float | None:
    """pagerkit's own account of the collection (its first source's
    pagerkit_collect_duration_seconds), to split a scrape into collection and the rest
    (encoding, HTTP)."""
    found = re.search(r"^pagerkit_collect_duration_seconds\{[^}]*\} (\S+)$", body,
                      re.MULTILINE)
    return float(found.group(1)) * 1000 if found else None


def pagerkit_up(body: str) -> bool:
    """Whether a pagerkit scrape says its (first) source is up."""
    return re.search(r"^pagerkit_up\{[^}]*\} 1(\.0)?$", body, re.MULTILINE) is not None


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def met(ok: bool) -> str:
    """The start of a verdict line in the README's list of targets."""
    return "- **met**:" if ok else "- **NOT met**:"


def version_of(binary: Path) -> str:
    """The first version number ``binary --version`` prints (some print it on stderr)."""
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                          timeout=30)
    found = re.search(r"\d+\.\d+(?:\.\d+)?", done.stdout + done.stderr)
    return found.group(0) if found else "?"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Put ``block`` between the two marker lines of ``path`` (appended if they are not
    there); the hand-written text around them stays as it is."""
    text = path.read_text() if path.exists() else ""
    new = f"{begin}\n{block}{end}"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + new + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    path.write_text(text)


def write_json(path: Path, machine: Any, results: Sequence[Any]) -> None:
    """The raw numbers, latencies included, beside the README's table (``machine`` and each
    result are dataclass instances)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": asdict(machine),
                                "results": [asdict(r) for r in results]}, indent=1))


@dataclass(frozen=True)
class Subject:
    """One exporter (or bare client) to measure, fetched in turn with the others."""

    row: str
    fetch: Callable[[], tuple[float, Any]]  # milliseconds until all is in, and the answer
    cpu: Callable[[], float] | None  # CPU seconds so far of what does the work; None: the
    #                                  backend does it (a plugin inside the server)
    # True when that process also does other work (the benchmark's own process: it scrapes
    # the others too): only its CPU during this subject's fetches counts; else all of its
    # CPU over the loop, the gaps between its fetches included.
    cpu_shared: bool = False


@dataclass
class Tally:
    """What one subject's measured fetches added up to."""

    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    backend_cpu_s: float = 0.0  # the backend's process, during this subject's fetches
    busy_s: float = 0.0  # wall time inside this subject's fetches
    last: Any = None  # the last answer, to check


def interleaved(subjects: Sequence[Subject], warmup: int, rounds: int,
                backend: int) -> list[Tally]:
    """Rounds of one fetch per subject, one fetch at a time, the order rotating every
    round: a backend that slows down or speeds up over the run does so for all of them.
    ``backend`` is the pid of the server they all read from; its CPU is counted per fetch."""
    for _ in range(warmup):
        for subject in subjects:
            subject.fetch()
    tallies = [Tally() for _ in subjects]
    loop_cpu = [s.cpu() if s.cpu is not None and not s.cpu_shared else 0.0 for s in subjects]
    for i in range(rounds):
        for k in range(len(subjects)):
            j = (i + k) % len(subjects)
            _one_fetch(subjects[j], tallies[j], backend)
    for subject, tally, before in zip(subjects, tallies, loop_cpu, strict=True):
        if subject.cpu is not None and not subject.cpu_shared:
            tally.cpu_s = subject.cpu() - before
    return tallies


def _one_fetch(subject: Subject, tally: Tally, backend: int) -> None:
    shared = subject.cpu if subject.cpu_shared else None
    cpu_before = shared() if shared is not None else 0.0
    backend_before = cpu_seconds(backend)
    start = time.monotonic()
    ms, tally.last = subject.fetch()
    tally.busy_s += time.monotonic() - start
    tally.backend_cpu_s += cpu_seconds(backend) - backend_before
    if shared is not None:
        tally.cpu_s += shared() - cpu_before
    tally.latencies_ms.append(ms)


def bench_main(name: str, run: Callable[[Any], int], args: Any, min_scrapes: int) -> int:
    """A benchmark's entry point: check --scrapes, stop cleanly on SIGTERM, errors as one
    line and exit 1."""
    if args.scrapes < min_scrapes:
        print(f"{name}: --scrapes must be at least {min_scrapes}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return run(args)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
