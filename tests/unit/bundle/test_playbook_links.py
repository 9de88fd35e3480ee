"""`pagerkit validate` follows every link inside the playbooks and their README: to other
files, to sections of the same file and of others; links to other hosts are left alone.
Spec errors come out in the format asked for, on stdout too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pagerkit.cli import main
from tests.unit.bundle.test_bundle import SPEC, edit, line_of

JOBS = "playbooks/jobs.md"
README = "playbooks/README.md"
ANCHOR_LINE = "### Impact\n"

# (id, file, markdown added after the file's first "### Impact", the finding's fragment)
BROKEN_LINKS = [
    ("missing file", JOBS, "See [the guide](guide.md).",
     "link guide.md: playbooks/guide.md does not exist; fix the link or create the file"),
    ("missing section here", JOBS, "See [below](#no-such-section).",
     "link #no-such-section: playbooks/jobs.md has no heading #no-such-section"),
    ("missing section elsewhere", JOBS, "See [on call](oncall.md#no-such-section).",
     "link oncall.md#no-such-section: playbooks/oncall.md has no heading #no-such-section"),
    ("missing section of the README", JOBS, "See [acks](README.md#acknowledgin).",
     "link README.md#acknowledgin: playbooks/README.md has no heading #acknowledgin"),
    ("missing file from the README", README, "See [old](old.md#x).",
     "link old.md#x: playbooks/old.md does not exist"),
    ("missing section from the README", README, "See [shift](oncall.md#startng-a-shift).",
     "link oncall.md#startng-a-shift: playbooks/oncall.md has no heading #startng-a-shift"),
    ("reference-style link", JOBS, "See [the guide][g].\n\n[g]: guide.md#top",
     "link guide.md#top: playbooks/guide.md does not exist"),
    ("image", JOBS, "![graph](img/graph.png)", "link img/graph.png: playbooks/img/graph.png "
                                                "does not exist"),
    ("outside the folder", JOBS, "See [the spec](../rules/nope.yaml).",
     "link ../rules/nope.yaml: rules/nope.yaml does not exist"),
    ("second line of a paragraph", JOBS, "A first line,\nthen [a link](nope.md).",
     "link nope.md: playbooks/nope.md does not exist"),
    ("in a table", JOBS, "| a | b |\n| --- | --- |\n| x | [y](gone.md) |",
     "link gone.md: playbooks/gone.md does not exist"),
    ("percent-encoded", JOBS, "See [x](my%20notes.md).",
     "link my notes.md: playbooks/my notes.md does not exist"),
]


@pytest.mark.parametrize(("file", "markdown", "fragment"), [c[1:] for c in BROKEN_LINKS],
                         ids=[c[0] for c in BROKEN_LINKS])
def test_a_broken_link_is_a_finding_at_its_line(repo, capsys, file, markdown, fragment):
    anchor = ANCHOR_LINE if ANCHOR_LINE in (repo / file).read_text() else "## Acknowledging\n"
    edit(repo / file, anchor, f"{anchor}\n{markdown}\n")
    needle = next(t for t in markdown.splitlines() if "](" in t or "][" in t)
    assert main(["validate", "--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert f"{file}:{line_of(repo / file, needle)}: {fragment}" in out
    assert len([line for line in out.splitlines() if " link " in line]) == 1


@pytest.mark.parametrize("markdown", [
    "See [on call](oncall.md#starting-a-shift) and [acks](README.md#acknowledging).",
    "See [the top](#jobs) and [the folder](../rules/) and [the spec](../rules/alerts.yaml).",
    "See [Prometheus](https://prometheus.io/docs/nope#x), <https://example.com/a.md>, "
    "[mail](mailto:oncall@example.com) and [elsewhere](//example.com/gone.md).",
    "`[not a link](nope.md)` and\n\n    [indented code](nope.md)\n",
    "See [a section here](#impact) and [a file's own anchor](jobs.md#diagnose).",
])
def test_links_that_lead_somewhere_or_elsewhere_are_fine(repo, capsys, markdown):
    edit(repo / JOBS, ANCHOR_LINE, f"{ANCHOR_LINE}\n{markdown}\n")
    assert main(["validate", "--root", str(repo)]) == 0, capsys.readouterr().out


def test_the_shipped_playbooks_links_all_lead_somewhere(capsys):
    from pathlib import Path

    from pagerkit.bundle.playbooks import load_playbooks
    from pagerkit.bundle.validate import link_findings
    from tests.conftest import ROOT

    books = load_playbooks(Path(ROOT), readme=True)
    assert sum(len(b.links) for b in books.values()) >= 7
    assert link_findings(Path(ROOT), list(books.values())) == []


def test_link_findings_in_json_and_github(repo, capsys):
    edit(repo / JOBS, ANCHOR_LINE, f"{ANCHOR_LINE}\nSee [x](#nowhere).\n")
    line = line_of(repo / JOBS, "See [x](#nowhere)")
    assert main(["validate", "--root", str(repo), "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert {"path": JOBS, "line": line, "message": "link #nowhere: playbooks/jobs.md has no "
            "heading #nowhere; link to one of its headings"} in findings
    assert main(["validate", "--root", str(repo), "--format", "github"]) == 1
    assert f"::error file={JOBS},line={line}::link #nowhere" in capsys.readouterr().out


# (id, file, old, new, line fragment, message fragment)
SPEC_ERRORS = [
    ("schema", SPEC, "severity: warning\n        expr: |\n          delta",
     "severity: major\n        expr: |\n          delta", "severity: major",
     'is "major"; it must be one of'),
    ("alias", SPEC, "        for: 5m\n", "        for: *five\n", "for: *five",
     "YAML aliases (*five)"),
    ("routing", "alertmanager/routing.yaml", "name: bob, timezone: America/New_York",
     "name: bob, timezone: America/Gotham", "America/Gotham", "is not a time zone"),
]


@pytest.mark.parametrize(("file", "old", "new", "where", "fragment"),
                         [c[1:] for c in SPEC_ERRORS], ids=[c[0] for c in SPEC_ERRORS])
def test_a_spec_error_comes_in_the_format_asked_for(repo, capsys, file, old, new, where,
                                                      fragment):
    """With --format json or github a CI job finds the spec error on stdout, exit 2;
    stderr says it too, for a person."""
    edit(repo / file, old, new)
    if "*five" in new:
        edit(repo / file, "        for: 3m\n", "        for: &five 3m\n")
    line = line_of(repo / file, where)
    assert main(["validate", "--root", str(repo), "--format", "json"]) == 2
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["findings"] == []
    assert (report["error"]["path"], report["error"]["line"]) == (file, line)
    assert fragment in report["error"]["message"]
    assert f"{file}:{line}: " in out.err
    assert main(["validate", "--root", str(repo), "--format", "github"]) == 2
    out = capsys.readouterr()
    assert out.out.startswith(f"::error file={file},line={line}::")
    assert fragment in out.out
    assert main(["validate", "--root", str(repo)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and f"{file}:{line}: " in out.err


def test_a_spec_error_without_a_line_in_github_format(repo, capsys):
    (repo / "playbooks/x.md").mkdir()
    assert main(["validate", "--root", str(repo), "--format", "github"]) == 2
    assert capsys.readouterr().out == "::error file=playbooks/x.md::is a folder, not a file; " \
                                      "give the path of the file\n"


@pytest.mark.parametrize("shape", ["passwd", "environ", "dotdot", "dangling", "loop", "fifo"])
def test_validate_reads_no_playbook_that_leads_outside(
        repo: Path, shape: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A playbook that is a symlink out of playbooks/ (or nowhere), or a fifo, is refused
    by name (exit 2) before anything reads it: the validator never quotes /etc/passwd nor
    waits on a fifo."""
    import os

    target = repo / "playbooks" / "x.md"
    if shape == "passwd":
        target.symlink_to("/etc/passwd")
    elif shape == "environ":
        target.symlink_to("/proc/self/environ")
    elif shape == "dotdot":
        (repo / "outside.md").write_text("# Outside\n")
        target.symlink_to("../outside.md")
    elif shape == "dangling":
        target.symlink_to("missing.md")
    elif shape == "loop":
        target.symlink_to("x.md")
    else:
        os.mkfifo(target)
    assert main(["validate", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "playbooks/x.md" in err and "root:" not in err
    assert ("symlink" in err) if shape != "fifo" else ("not a regular file" in err)


def test_a_symlink_that_stays_inside_is_read(repo: Path) -> None:
    """A playbook linked to another file inside playbooks/ is an ordinary playbook."""
    (repo / "playbooks" / "notes").mkdir()
    real = repo / "playbooks" / "notes" / "real.md"
    real.write_text("# Notes\n\nSee [the index](README.md).\n")
    (repo / "playbooks" / "alias.md").symlink_to("notes/real.md")
    assert main(["validate", "--root", str(repo)]) == 0
