"""The validator keeps every alert linked to a real, complete playbook section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pagerkit.bundle.playbooks import github_slug, parse_playbook
from pagerkit.cli import main
from tests.unit.bundle.test_bundle import edit, line_of

SPEC = "rules/alerts.yaml"
JOBS = "playbooks/jobs.md"


@pytest.mark.parametrize(("text", "anchor"), [
    ("JobsWaitingTooLong", "jobswaitingtoolong"),
    ("Notes on queues", "notes-on-queues"),
    ("What `rabbitmqctl` says!", "what-rabbitmqctl-says"),
    ("Über-Queue (v2.1)", "über-queue-v21"),
    ("snake_case and-dash", "snake_case-and-dash"),
])
def test_github_slug(text, anchor):
    assert github_slug(text) == anchor


def test_repeated_headings_get_numbered_anchors():
    book = parse_playbook("# T\n\n## A\n\n## A\n\n## A\n", "x.md")
    assert [h.anchor for h in book.headings] == ["t", "a", "a-1", "a-2"]


def validate(repo: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", "--root", str(repo), "--format", fmt])
    return code, capsys.readouterr().out


def expect(repo: Path, capsys: pytest.CaptureFixture[str], path: str, line: int,
           fragment: str) -> None:
    """Exit 1, and the finding at path:line in all three formats."""
    code, text = validate(repo, "text", capsys)
    assert code == 1
    assert any(found.startswith(f"{path}:{line}: ") and fragment in found
               for found in text.splitlines()), text
    code, text = validate(repo, "github", capsys)
    assert code == 1
    assert f"::error file={path},line={line}::" in text
    code, text = validate(repo, "json", capsys)
    assert code == 1
    assert any(f["path"] == path and f["line"] == line and fragment in f["message"]
               for f in json.loads(text)["findings"])


def test_a_renamed_heading(repo, capsys):
    edit(repo / JOBS, "## QueueWithoutConsumers", "## QueueWithoutWorkers")
    expect(repo, capsys, SPEC, line_of(repo / SPEC, "jobs.md#queuewithoutconsumers"),
           "QueueWithoutConsumers: playbooks/jobs.md has no heading #queuewithoutconsumers")
    expect(repo, capsys, JOBS, line_of(repo / JOBS, "## QueueWithoutWorkers"),
           "section QueueWithoutWorkers belongs to no alert")


def test_a_deleted_file(repo, capsys):
    (repo / "playbooks/postgres.md").unlink()
    expect(repo, capsys, SPEC, line_of(repo / SPEC, "postgres.md#postgresdown"),
           "PostgresDown: playbook playbooks/postgres.md does not exist")


def test_an_orphan_section(repo, capsys):
    text = (repo / JOBS).read_text()
    (repo / JOBS).write_text(text + "\n## JobsVanished\n\n### Impact\n\nx\n\n### Diagnose\n\n"
                                    "x\n\n### Mitigate\n\nx\n\n### Escalate\n\nx\n")
    expect(repo, capsys, JOBS, line_of(repo / JOBS, "## JobsVanished"),
           "section JobsVanished belongs to no alert")


def test_a_duplicate_heading(repo, capsys):
    text = (repo / JOBS).read_text()
    (repo / JOBS).write_text(text + "\n## BacklogGrowing\n\n### Impact\n\nx\n\n### Diagnose\n"
                                    "\nx\n\n### Mitigate\n\nx\n\n### Escalate\n\nx\n")
    expect(repo, capsys, JOBS, line_of(repo / JOBS, "## BacklogGrowing", 2),
           "section BacklogGrowing is repeated (first on line")


def test_a_missing_subsection(repo, capsys):
    text = (repo / JOBS).read_text()
    start = text.index("## BacklogGrowing")
    mitigate = text.index("### Mitigate", start)
    escalate = text.index("### Escalate", start)
    (repo / JOBS).write_text(text[:mitigate] + text[escalate:])
    expect(repo, capsys, JOBS, line_of(repo / JOBS, "## BacklogGrowing"),
           "BacklogGrowing: no '### Mitigate' subsection")


def test_a_placeholder_subsection(repo, capsys):
    text = (repo / JOBS).read_text()
    start = text.index("## JobsWaitingTooLong")
    impact = text.index("### Impact", start) + len("### Impact")
    diagnose = text.index("### Diagnose", start)
    (repo / JOBS).write_text(text[:impact] + "\n\nTODO\n\n" + text[diagnose:])
    expect(repo, capsys, JOBS, line_of(repo / JOBS, "### Impact"),
           "JobsWaitingTooLong: '### Impact' is a placeholder")


def test_an_alert_renamed_in_the_spec_only(repo, capsys):
    """The spec renames the alert but keeps the old link: the link is stale."""
    edit(repo / SPEC, "- name: BacklogGrowing", "- name: BacklogClimbing")
    assert main(["generate", "--root", str(repo)]) == 0
    capsys.readouterr()
    expect(repo, capsys, SPEC, line_of(repo / SPEC, "jobs.md#backloggrowing"),
           "BacklogClimbing: #backloggrowing in playbooks/jobs.md is the heading "
           "'BacklogGrowing'")
    expect(repo, capsys, JOBS, line_of(repo / JOBS, "## BacklogGrowing"),
           "section BacklogGrowing belongs to no alert")


def test_malformed_yaml_is_exit_2(repo, capsys):
    edit(repo / SPEC, "runbook_base_url: http", "runbook_base_url: [http")
    for fmt in ("text", "github", "json"):
        assert main(["validate", "--root", str(repo), "--format", fmt]) == 2
        assert f"{SPEC}:" in capsys.readouterr().err


def test_playbook_new_adds_a_skeleton_the_validator_holds_to(repo, capsys):
    text = (repo / JOBS).read_text()
    start = text.index("## BacklogGrowing")
    (repo / JOBS).write_text(text[:start].rstrip() + "\n")
    assert main(["playbook", "new", "BacklogGrowing", "--root", str(repo)]) == 0
    out = capsys.readouterr().out
    line = line_of(repo / JOBS, "## BacklogGrowing")
    assert out.startswith(f"{JOBS}:{line}: added the section BacklogGrowing")
    code, text = validate(repo, "text", capsys)
    assert code == 1
    assert text.count("is a placeholder") == 4
    assert main(["playbook", "new", "BacklogGrowing", "--root", str(repo)]) == 2
    assert f"{JOBS}:{line}: BacklogGrowing already has a section" in capsys.readouterr().err
    assert main(["playbook", "new", "NoSuchAlert", "--root", str(repo)]) == 2


def test_validation_and_served_pages_agree_on_anchors():
    """The validator's parser and the page renderer give every heading the same id."""
    import re

    from pagerkit.bundle.playbooks import render_html
    from tests.conftest import ROOT

    for path in sorted((ROOT / "playbooks").glob("*.md")):
        text = path.read_text()
        served = re.findall(r'<h[1-6] id="([^"]+)"', render_html(text, path.name))
        assert served == [h.anchor for h in parse_playbook(text, str(path)).headings]
