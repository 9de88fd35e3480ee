"""The generated dashboard draws the alert spec's thresholds and follows its changes."""

from __future__ import annotations

import json

from pagerkit.cli import main
from tests.conftest import ROOT
from tests.unit.bundle.test_bundle import edit, line_of

BOARD = "grafana/dashboards/pagerkit-overview.json"


def thresholds(root) -> dict[str, float]:  # type: ignore[no-untyped-def]
    board = json.loads((root / BOARD).read_text())
    return {p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"]
            for p in board["panels"]
            if len(p["fieldConfig"]["defaults"]["thresholds"]["steps"]) > 1}


def test_threshold_lines_are_the_alert_specs_values():
    assert thresholds(ROOT) == {"Oldest queued job per queue": 900,
                                "AMQP canary round trip": 0.5,
                                "PostgreSQL connections of max_connections": 0.9,
                                "Oldest open transaction": 1800}


def test_a_threshold_change_reaches_the_dashboard(repo, capsys):
    edit(repo / "rules/alerts.yaml", "value: 900", "value: 1200")
    assert main(["generate", "--check", "--root", str(repo)]) == 1
    assert BOARD in capsys.readouterr().out
    assert main(["generate", "--root", str(repo)]) == 0
    assert thresholds(repo)["Oldest queued job per queue"] == 1200


def test_a_panel_naming_a_missing_threshold_is_refused(repo, capsys):
    edit(repo / "grafana/overview.yaml", "name: max_wait_seconds", "name: max_wait")
    assert main(["generate", "--root", str(repo)]) == 2
    line = line_of(repo / "grafana/overview.yaml", "name: max_wait}")
    assert (f"grafana/overview.yaml:{line}: panel 'Oldest queued job per queue': "
            "JobsWaitingTooLong has no threshold max_wait") in capsys.readouterr().err
