"""`make demo` without a terminal: a push, then an SMS, leave the relay with their
acknowledgement and playbook links, the demo taps the SMS link's button, the escalation
stops, and nothing it started outlives it."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pagerkit.oncall.routing import load_routing
from pagerkit.oncall.who import who
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_demo_pages_escalates_and_stops_when_acknowledged():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--timeout", "180",
                           "--ack-after", "40", "--quiet", "40", "--quiet-start", "10"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=400,
                          check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    team = load_routing(ROOT).teams[0]
    primary, _ = who(team, dt.datetime.now(dt.UTC))
    assert f"PUSH  to {primary}: QueueWithoutConsumers (platform, tier 1)" in out
    assert "Playbook: http://localhost:9630/playbooks/jobs.md#queuewithoutconsumers" in out
    assert f"SMS   to {primary} " in out
    assert re.search(r"PAGE platform tier 2: A queue has messages and no consumer\.\n.*"
                     r"Ack: http://127\.0\.0\.1:\d+/a/\S+\n.*Playbook: ", out), out
    assert re.search(rf'TAP   {primary} taps "Acknowledge for 30 minutes" on the sms of '
                     rf"QueueWithoutConsumers: Acknowledged by {primary} until ", out), out
    assert "the escalation stopped" in out
    report = (ROOT / "demo-report.md").read_text()  # what the demo paged, as the report says
    row = next(line for line in report.splitlines() if line.startswith("| QueueWithout"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["QueueWithoutConsumers", "critical", "1"], row
    assert cells[8:10] == ["1", "1"], row  # escalated to the SMS, then acknowledged
    assert (ROOT / "demo-report.html").read_text().lower().startswith("<!doctype html>")
    # This demo's processes only (another demo may run on the machine): its suffix names
    # its database, vhost and files, which are in every command line it starts.
    files = re.search(r"files: +(/\S*pagerkit-demo-([0-9a-f]{8})-\S*) ", out)
    assert files, out
    leftovers = subprocess.run(["pgrep", "-af", f"pagerkit.demo.{files.group(2)}"],
                               capture_output=True, text=True, check=False).stdout
    assert leftovers.strip() == "", leftovers
    assert not Path(files.group(1)).exists()
