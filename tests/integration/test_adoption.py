"""What an adopting team's CI runs: the pre-commit hooks and the example workflow."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_example_workflow_matches_the_github_workflow_schema():
    checker = shutil.which("check-jsonschema", path=str(ROOT / ".venv" / "bin")) or \
        shutil.which("check-jsonschema")
    assert checker is not None, "check-jsonschema is a test dependency"
    done = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows",
                           str(ROOT / "examples" / "github-workflow.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_runs_what_ci_runs():
    steps = yaml.safe_load((ROOT / "examples" / "github-workflow.yml").read_text())[
        "jobs"]["validate"]["steps"]
    commands = " ".join(step.get("run", "") for step in steps)
    for expected in ("pagerkit generate --check", "pagerkit validate --format github",
                     "promtool check rules --lint-fatal", "promtool test rules"):
        assert expected in commands


def test_each_pre_commit_hook_passes_on_this_repository():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {hook["id"] for hook in hooks} == {"pagerkit-generate-check", "pagerkit-validate"}
    for hook in hooks:
        argv = shlex.split(hook["entry"])
        assert argv[0] == "pagerkit" and hook["language"] == "python"
        done = subprocess.run([sys.executable, "-m", "pagerkit", *argv[1:]], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, hook["id"] + done.stdout + done.stderr
