"""`make demo` at a terminal, as a person runs it: Ctrl-C after the first page reaches only
the demo (the terminal sends SIGINT to its whole foreground process group), which writes the
report while Prometheus and Alertmanager still answer, says where it is, and then stops
everything it started."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool

pytestmark = pytest.mark.integration

STAMP = ".venv/.installed-stamp"


def started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), which
    tells a process from a later one that reuses its id; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def descendants(root: int) -> dict[int, str]:
    """Every live process below `root`, by id, with its start time."""
    parents = {int(p.name): parent_of(int(p.name)) for p in Path("/proc").iterdir()
               if p.name.isdigit()}
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            start = started_at(pid)
            if ppid == parent and start is not None and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def survivors(processes: dict[int, str]) -> list[str]:
    """The command lines of the processes still running (same id, same start time)."""
    alive = [pid for pid, start in processes.items() if started_at(pid) == start]
    return [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for pid in alive if Path(f"/proc/{pid}/cmdline").exists()]


class Terminal:
    """A command run in a new session whose controlling terminal is a pseudo-terminal: what
    it prints is read from the master side, and keys are typed into it."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: a session leader on the terminal, in its foreground
            try:
                os.chdir(cwd)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        self.output = ""

    def read_until(self, pattern: str, seconds: float) -> re.Match[str] | None:
        """Reads until `pattern` appears in the output, the terminal closes (None) or time
        runs out (None)."""
        deadline = time.monotonic() + seconds
        while (found := re.search(pattern, self.output)) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 1.0)):
                return None
        return found

    def read_to_end(self, seconds: float) -> bool:
        """Reads until the terminal closes: True, or False when time runs out first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._read(1.0):
                return True
        return False

    def _read(self, seconds: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            return False
        self.output += chunk.decode(errors="replace").replace("\r\n", "\n")
        return bool(chunk)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> int:
        """The command's exit status; kills its process group if it is still running."""
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            os.killpg(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
        os.close(self.master)
        return status


def test_ctrl_c_after_the_first_page_writes_the_report_and_stops_everything():
    """Ctrl-C typed at the terminal after the first page: the demo writes the report of what
    it paged (Prometheus and Alertmanager did not get the terminal's SIGINT), names the file
    it wrote, and no process it started outlives it."""
    make = tool("make", "make")
    tool("prometheus", "prometheus")
    tool("prometheus-alertmanager", "prometheus-alertmanager")
    report = ROOT / "demo-report.html"
    before = time.time()
    # -o: the test runs inside the installed virtualenv; never reinstall it mid-suite.
    term = Terminal([make, "--no-print-directory", "-o", STAMP, "demo",
                     "DEMO_ARGS=--quiet-start 10"], ROOT)
    try:
        page = term.read_until(r"PUSH  to \w+: (\w+)", seconds=240)
        assert page, term.output
        started = descendants(term.pid)
        assert len(started) >= 6, started  # the demo, traffic, exporter, relay, AM, Prometheus
        term.type(b"\x03")  # the terminal turns it into SIGINT for its foreground group
        assert term.read_to_end(seconds=180), term.output
    finally:
        term.close()
    out = term.output
    assert "cannot reach Prometheus" not in out, out
    assert f"the on-call report of this demo: {report}" in out, out
    assert report.stat().st_mtime >= before and report.stat().st_size > 0, out
    assert report.read_text().lower().startswith("<!doctype html>")
    rows = [line for line in (ROOT / "demo-report.md").read_text().splitlines()
            if line.startswith(f"| {page.group(1)} |")]
    assert len(rows) == 1 and rows[0].split("|")[3].strip() == "1", rows  # that one page
    assert survivors(started) == [], out
    assert "stopped: what the demo started and created is gone" in out, out
    files = re.search(r"files: +(/\S+) ", out)
    assert files and not Path(files.group(1)).exists(), out
