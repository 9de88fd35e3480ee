"""`make demo` without a terminal: a page arrives with its playbook link, the demo
acknowledges it, the escalation stops, and nothing it started outlives it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from pagerkit.oncall import who
from pagerkit.routing import load_routing
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_demo_pages_escalates_and_stops_when_acknowledged():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--timeout", "180",
                           "--ack-after", "20", "--quiet", "40", "--quiet-start", "10"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=400,
                          check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    team = load_routing(ROOT).teams[0]
    primary, _ = who(team, dt.datetime.now(dt.UTC))
    assert f"PAGE  {primary} by push notification (tier 1): QueueWithoutConsumers" in out
    assert "playbook: http://localhost:9630/playbooks/jobs.md#queuewithoutconsumers" in out
    assert "ACK   QueueWithoutConsumers" in out
    assert "the escalation stopped" in out
    leftovers = subprocess.run(["pgrep", "-af", "pagerkit-demo-"], capture_output=True,
                               text=True, check=False).stdout
    assert leftovers.strip() == "", leftovers
