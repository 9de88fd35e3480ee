"""The generated Alertmanager config: amtool accepts it, routes every team, severity and
tier where it should, and its shifts agree with `pagerkit oncall who`."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
import yaml

from pagerkit.oncall.routing import load_routing
from pagerkit.oncall.who import who
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

CONFIG = ROOT / "alertmanager" / "alertmanager.yml"


def test_amtool_accepts_the_generated_config(amtool):
    done = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


CASES = [
    ({"alertname": "JobsWaitingTooLong", "team": "platform", "severity": "critical",
      "tier": "1"}, "platform-alice-push,platform-bob-push,platform-carol-push"),
    ({"alertname": "JobsWaitingTooLong", "team": "platform", "severity": "critical",
      "tier": "2"}, "platform-alice-sms,platform-bob-sms,platform-carol-sms"),
    ({"alertname": "JobsWaitingTooLong", "team": "platform", "severity": "critical",
      "tier": "3"}, "platform-alice-voice,platform-bob-voice,platform-carol-voice"),
    ({"alertname": "JobsWaitingTooLong", "team": "platform", "severity": "critical",
      "tier": "4"}, "platform-alice-voice,platform-bob-voice,platform-carol-voice"),
    ({"alertname": "BacklogGrowing", "team": "platform", "severity": "warning"},
     "platform-chat"),
    ({"alertname": "Anything", "team": "platform", "severity": "info"}, "blackhole"),
    ({"alertname": "Watchdog", "team": "platform", "severity": "info"}, "heartbeat"),
    ({"alertname": "JobsWaitingTooLong", "team": "nobody", "severity": "critical",
      "tier": "1"}, "blackhole"),
]


@pytest.mark.parametrize(("labels", "receivers"), CASES,
                         ids=[f"{c[0]['severity']}-{c[0].get('tier', '')}-{c[0]['team']}"
                              f"-{c[0]['alertname']}" for c in CASES])
def test_routes(amtool, labels, receivers):
    """amtool config routes test: the receivers each label set reaches (each member's
    route is active only in that member's shifts, which the next test checks)."""
    args = [f"{k}={v}" for k, v in labels.items()]
    done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={CONFIG}",
                           f"--verify.receivers={receivers}", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def active(interval: dict, at: dt.datetime) -> bool:  # type: ignore[type-arg]
    """Alertmanager's time interval semantics, for the UTC day pieces the generator
    writes (times, days_of_month, months, years, location UTC)."""
    assert interval["location"] == "UTC"
    at = at.astimezone(dt.UTC)
    if (str(at.day), str(at.month), str(at.year)) != (interval["days_of_month"][0],
                                                      interval["months"][0],
                                                      interval["years"][0]):
        return False
    minute = at.hour * 60 + at.minute
    times = interval["times"][0]
    start = int(times["start_time"][:2]) * 60 + int(times["start_time"][3:])
    end = int(times["end_time"][:2]) * 60 + int(times["end_time"][3:])
    return start <= minute < end


def test_time_intervals_page_who_oncall_who_names():
    """Every hour of the schedule's period, exactly one member's primary interval is
    active, and it is the member `pagerkit oncall who` names; the same for secondaries."""
    spec = load_routing(ROOT)
    team = spec.teams[0]
    intervals = {ti["name"]: ti["time_intervals"]
                 for ti in yaml.safe_load(CONFIG.read_text())["time_intervals"]}
    at = team.start
    checked = 0
    while at < team.end:
        primary, secondary = who(team, at)
        for target, expected in (("primary", primary), ("secondary", secondary)):
            on = [m.name for m in team.members
                  if any(active(i, at) for i in intervals[f"{team.name}-{target}-{m.name}"]
                         if "times" in i)]
            assert on == [expected], (at, target, on, expected)
        at += dt.timedelta(hours=1)
        checked += 1
    assert checked >= 24 * 7 * 8


def test_a_team_can_delegate_paging_to_a_service(repo, amtool, capsys):
    """With a paging service, critical alerts reach it once (tier 1); it escalates by
    itself, so the later tiers reach nobody. The key is read from a file."""
    from pagerkit.cli import main
    from tests.unit.bundle.test_bundle import edit

    edit(repo / "alertmanager/routing.yaml", "    members:\n",
         "    paging_service: {pagerduty_routing_key_file: /run/secrets/pagerduty}\n"
         "    members:\n")
    assert main(["generate", "--root", str(repo)]) == 0
    config = repo / "alertmanager" / "alertmanager.yml"
    assert subprocess.run([amtool, "check-config", str(config)], capture_output=True,
                          timeout=60, check=False).returncode == 0
    for tier, receiver in (("1", "platform-paging-service"), ("2", "blackhole")):
        done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}",
                               f"--verify.receivers={receiver}", "team=platform",
                               "severity=critical", f"tier={tier}"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "/run/secrets/pagerduty" in config.read_text()
