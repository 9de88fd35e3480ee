"""Bad alert specs and overrides, stale files, and the validator's three formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pagerkit.bundle.validate import metric_names
from pagerkit.cli import main
from tests.conftest import ROOT


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, fragment: str, nth: int = 1) -> int:
    """The line of the ``nth`` line holding ``fragment``."""
    found = [i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line]
    return found[nth - 1]


SPEC = "rules/alerts.yaml"

DEMO = "rules/overrides/demo.yaml"

# (id, file edited, old text, new text, exit code, file and line fragment the message
# must point at, message fragment)
BAD_SPECS = [
    ("duplicate name", SPEC, "- name: RabbitMQDown", "- name: PostgresDown", 2,
     (SPEC, "- name: PostgresDown", 2), "alert PostgresDown is defined twice"),
    ("unknown severity", SPEC, "severity: warning\n        expr: |\n          delta",
     "severity: major\n        expr: |\n          delta", 2, (SPEC, "severity: major"),
     'is "major"; it must be one of "critical", "warning", "info"'),
    ("missing playbook", SPEC, "        playbook: jobs.md#backloggrowing\n", "", 2,
     (SPEC, "- name: BacklogGrowing"), "is missing the required key 'playbook'"),
    ("invalid PromQL", SPEC, "expr: pagerkit_rabbitmq_node_memory_alarm == 1",
     "expr: sum(pagerkit_rabbitmq_node_memory_alarm == 1", 2,
     (SPEC, "expr: sum(pagerkit_rabbitmq"), "RabbitMQMemoryAlarm: expr is not valid PromQL"),
    ("undefined threshold", SPEC, "> ${max_wait_seconds}", "> ${max_wait}", 2,
     (SPEC, "> ${max_wait}"), "${max_wait} is not one of its thresholds"),
    ("override for a missing alert", DEMO, "  RabbitMQDown:", "  RabbitMQGone:", 2,
     (DEMO, "RabbitMQGone:"), "no alert named RabbitMQGone"),
    ("override for a missing threshold", DEMO, "thresholds: {max_wait_seconds: 30}",
     "thresholds: {max_wait: 30}", 2, (DEMO, "thresholds: {max_wait: 30}"),
     "JobsWaitingTooLong has no threshold max_wait"),
    ("critical without for", SPEC, "        for: 3m\n        for_reason: one failed",
     "        for_reason: one failed", 1, (SPEC, "- name: RabbitMQDown"),
     "RabbitMQDown: a critical alert pages, so it needs"),
    ("critical for under the minimum", SPEC, "for: 2m\n        for_reason: the alarm often",
     "for: 30s\n        for_reason: the alarm often", 1, (SPEC, "for: 30s"),
     "RabbitMQMemoryAlarm: for 30s is shorter than min_critical_for 2m"),
    ("unknown metric", SPEC, "expr: pagerkit_rabbitmq_node_disk_alarm == 1",
     "expr: pagerkit_rabbitmq_node_disk_alarms == 1", 1, (SPEC, "node_disk_alarms =="),
     "metric pagerkit_rabbitmq_node_disk_alarms is neither exported"),
    ("malformed YAML", SPEC, "  - name: rabbitmq\n", "  - name: [rabbitmq\n", 2,
     (SPEC, "    alerts:", 2), "(while parsing a flow sequence that starts on line {edited})"),
]


@pytest.mark.parametrize(("file", "old", "new", "code", "where", "fragment"),
                         [case[1:] for case in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec(repo, capsys, file, old, new, code, where, fragment):
    """Each mistake gives its exit code and a message naming the file and the line."""
    edit(repo / file, old, new)
    where_file, *fragment_nth = where
    line = line_of(repo / where_file, *fragment_nth)
    assert main(["validate", "--root", str(repo)]) == code
    out = capsys.readouterr()
    text = out.out + out.err
    if "{edited}" in fragment:
        fragment = fragment.format(edited=line_of(repo / file, new.splitlines()[0]))
    assert fragment in text
    assert f"{where_file}:{line}: " in text
    if code == 2:  # generate refuses the same spec, the same way
        assert main(["generate", "--check", "--root", str(repo)]) == 2
        assert f"{where_file}:{line}: " in capsys.readouterr().err


def test_a_finding_points_at_the_line(repo, capsys):
    path = repo / SPEC
    edit(path, "expr: pagerkit_rabbitmq_node_disk_alarm == 1",
         "expr: pagerkit_rabbitmq_node_disk_alarms == 1")
    line = line_of(path, "pagerkit_rabbitmq_node_disk_alarms")
    assert main(["validate", "--root", str(repo)]) == 1
    assert f"{SPEC}:{line}: RabbitMQDiskAlarm: metric pagerkit_rabbitmq_node_disk_alarms" in \
        capsys.readouterr().out


def test_the_shipped_repository_validates_clean(capsys):
    assert main(["validate", "--root", str(ROOT)]) == 0
    assert main(["generate", "--check", "--root", str(ROOT)]) == 0


def test_stale_and_extra_files(repo, capsys):
    """A hand edit and a leftover file make --check exit 1 naming both; generate fixes it."""
    edit(repo / "rules/generated/jobs.rules.yml", "for: 5m", "for: 1m")
    (repo / "rules/generated/old.rules.yml").write_text("groups: []\n")
    assert main(["generate", "--check", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "rules/generated/jobs.rules.yml: stale: differs" in out
    assert "rules/generated/old.rules.yml: stale: is not generated" in out
    assert main(["validate", "--root", str(repo)]) == 1
    assert main(["generate", "--root", str(repo)]) == 0
    assert main(["generate", "--check", "--root", str(repo)]) == 0
    assert not (repo / "rules/generated/old.rules.yml").exists()


def test_a_spec_change_reaches_the_generated_files(repo, capsys):
    edit(repo / SPEC, "value: 900", "value: 1200")
    assert main(["generate", "--check", "--root", str(repo)]) == 1
    assert main(["generate", "--root", str(repo)]) == 0
    assert "ci_oldest_queued_job_age_seconds > 1200" in \
        (repo / "rules/generated/jobs.rules.yml").read_text()
    # The demo overrides the threshold: its file is unchanged.
    assert "> 30" in (repo / "rules/generated/demo/jobs.rules.yml").read_text()


def test_generation_is_reproducible(repo, capsys):
    before = {p: p.read_bytes() for p in (repo / "rules/generated").rglob("*") if p.is_file()}
    shutil.rmtree(repo / "rules/generated")
    assert main(["generate", "--root", str(repo)]) == 0
    after = {p: p.read_bytes() for p in (repo / "rules/generated").rglob("*") if p.is_file()}
    assert before == after


def test_formats(repo, capsys):
    edit(repo / SPEC, "expr: pagerkit_rabbitmq_node_disk_alarm == 1",
         "expr: pagerkit_rabbitmq_node_disk_alarms == 1")
    line = line_of(repo / SPEC, "pagerkit_rabbitmq_node_disk_alarms")
    assert main(["validate", "--root", str(repo), "--format", "github"]) == 1
    assert capsys.readouterr().out.startswith(f"::error file={SPEC},line={line}::RabbitMQDisk")
    assert main(["validate", "--root", str(repo), "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert any(f["path"] == SPEC and f["line"] == line for f in findings)


def test_metric_names_come_from_the_syntax_tree():
    expr = ('rate(a_total{x="y"}[5m]) / on() b and {__name__="c"} '
            'unless label_replace(d, "l", "v", "s", "r")')
    assert metric_names(expr) == {"a_total", "b", "c", "d"}


def test_the_operator_manifest_holds_the_same_groups():
    import yaml

    manifest = yaml.safe_load((ROOT / "rules/generated/prometheusrule.yaml").read_text())
    assert manifest["kind"] == "PrometheusRule"
    files = sorted((ROOT / "rules/generated").glob("*.rules.yml"))
    groups = {g["name"]: g for path in files for g in yaml.safe_load(path.read_text())["groups"]}
    assert {g["name"]: g for g in manifest["spec"]["groups"]} == groups
