"""Fixtures for tests that work on a copy of the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's specs, generated files and playbooks."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    shutil.copytree(ROOT / "alertmanager", tmp_path / "alertmanager")
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "pagerkit.yaml", tmp_path / "examples" / "pagerkit.yaml")
    return tmp_path
