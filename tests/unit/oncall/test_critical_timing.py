"""The critical routes' grouping timers: a new incident's first tier pages within its `for`
plus the group_interval, even right after the last incident of the same alert resolved."""

from __future__ import annotations

from typing import Any

import yaml

from pagerkit.durations import parse_duration
from pagerkit.oncall.amconfig import CRITICAL_TIMING
from pagerkit.relay.config import DEFAULT_EXPIRE
from tests.conftest import ROOT


def critical_routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    found = [route] if 'severity="critical"' in route.get("matchers", []) else []
    return found + [r for child in route.get("routes", []) for r in critical_routes(child)]


def test_every_critical_route_of_the_checked_in_config_has_the_timers_and_says_why():
    text = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    routes = critical_routes(yaml.safe_load(text)["route"])
    assert routes, "no critical route"
    assert [(r["group_wait"], r["group_interval"]) for r in routes] == [("0s", "5s")] * len(
        routes)
    assert "# Critical routes: group_wait 0s and group_interval 5s, whatever the spec's " \
           "timing.\n" in text


def test_the_group_interval_is_far_below_every_critical_for():
    """The resolved alert must be sent before the next incident's alert arrives (it comes
    no sooner than `for` after the re-breach), else Alertmanager takes it for the same
    alert still firing and pages nobody: with the relay's expiry, well within `for`."""
    spec = yaml.safe_load((ROOT / "rules" / "alerts.yaml").read_text())
    fors = [parse_duration(a["for"]) for g in spec["groups"] for a in g["alerts"]
            if a["severity"] == "critical"]
    shortest = min(fors)
    interval = parse_duration(CRITICAL_TIMING["group_interval"])
    assert interval + DEFAULT_EXPIRE <= shortest / 10, (interval, shortest)


def test_the_relay_default_polls_at_a_tenth_of_the_critical_group_interval():
    assert parse_duration(CRITICAL_TIMING["group_interval"]) / 10 == DEFAULT_EXPIRE
