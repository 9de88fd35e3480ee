"""`pagerkit generate` refuses, writing nothing, a spec `validate` rejects for a critical
alert that would page on a blip: without `for`, or with one under min_critical_for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagerkit.cli import main
from tests.unit.bundle.test_bundle import DEMO, SPEC, edit, line_of

# (id, file, old, new, where the finding points (file, line fragment), message fragment)
PAGES_ON_A_BLIP = [
    ("critical without for", SPEC, "        for: 3m\n        for_reason: one failed",
     "        for_reason: one failed", (SPEC, "- name: RabbitMQDown"),
     "RabbitMQDown: a critical alert pages, so it needs `for`"),
    ("critical for under the minimum", SPEC, "for: 2m\n        for_reason: the alarm often",
     "for: 30s\n        for_reason: the alarm often", (SPEC, "for: 30s"),
     "RabbitMQMemoryAlarm: for 30s is shorter than min_critical_for 2m"),
    ("critical for of zero", SPEC, "for: 2m\n        for_reason: the alarm often",
     "for: 0s\n        for_reason: the alarm often", (SPEC, "for: 0s"),
     "RabbitMQMemoryAlarm: for 0s is shorter than min_critical_for 2m"),
    ("a minimum raised over an alert's for", SPEC, "min_critical_for: 2m",
     "min_critical_for: 4m", (SPEC, "for: 2m"),
     "RabbitMQMemoryAlarm: for 2m is shorter than min_critical_for 4m"),
    ("an override under its minimum", DEMO, "  RabbitMQDown:\n    for: 15s",
     "  RabbitMQDown:\n    for: 5s", (DEMO, "for: 5s"),
     "RabbitMQDown: for 5s is shorter than min_critical_for 10s"),
    ("an override's minimum over an alert's for", DEMO, "min_critical_for: 10s",
     "min_critical_for: 20m", (DEMO, "min_critical_for: 20m"),
     "RabbitMQMemoryAlarm: for 2m is shorter than min_critical_for 20m"),
]


def generated(repo: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for folder in ("rules/generated", "alertmanager", "grafana")
            for p in sorted((repo / folder).rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("file", "old", "new", "where", "fragment"),
                         [c[1:] for c in PAGES_ON_A_BLIP], ids=[c[0] for c in PAGES_ON_A_BLIP])
def test_generate_refuses_what_validate_rejects(repo, capsys, file, old, new, where, fragment):
    edit(repo / file, old, new)
    where_file, fragment_line = where
    line = line_of(repo / where_file, fragment_line)
    before = generated(repo)
    for argv in (["generate"], ["generate", "--check"]):
        assert main([*argv, "--root", str(repo)]) == 1
        err = capsys.readouterr().err
        assert f"{where_file}:{line}: {fragment}" in err
        assert "nothing written" in err
    assert generated(repo) == before
    assert main(["validate", "--root", str(repo)]) == 1
    assert f"{where_file}:{line}: {fragment}" in capsys.readouterr().out


def test_a_warning_without_for_is_generated(repo, capsys):
    """Only what pages is held to min_critical_for."""
    text = (repo / SPEC).read_text()
    assert "severity: warning" in text
    assert main(["generate", "--check", "--root", str(repo)]) == 0
