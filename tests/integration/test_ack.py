"""`pagerkit ack`: the silence a page's acknowledgement creates, from a terminal."""

from __future__ import annotations

import getpass

import pytest
import requests

from pagerkit.cli import main
from tests.conftest import ROOT, free_port, require
from tests.harness.paging import AlertmanagerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def alertmanager():
    import shutil

    require(shutil.which("prometheus-alertmanager") is not None,
            "prometheus-alertmanager (Debian package)")
    am = AlertmanagerProcess(ROOT / "alertmanager" / "alertmanager.yml", free_port())
    yield am
    am.stop()


def test_ack_creates_the_silence_and_lists_it(alertmanager, capsys):
    args = ["--alertmanager", alertmanager.url, "--root", str(ROOT)]
    assert main(["ack", "JobsWaitingTooLong", "--team", "platform", "--for", "2h", *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith("acknowledged JobsWaitingTooLong (team platform) for 2h, until ")
    silences = requests.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
    assert len(silences) == 1
    assert {(m["name"], m["value"]) for m in silences[0]["matchers"]} == {
        ("alertname", "JobsWaitingTooLong"), ("team", "platform"), ("tier", "1")}
    assert main(["ack", "--list", *args]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("JobsWaitingTooLong team=platform until ")
    assert f"pagerkit ack: {getpass.getuser()} by terminal" in listed


@pytest.mark.parametrize(("argv", "fragment"), [
    (["ack", "X", "--alertmanager", "http://127.0.0.1:1"], "cannot reach Alertmanager at"),
    (["ack", "X", "--for", "soon", "--alertmanager", "http://127.0.0.1:1"],
     "--for: 'soon' is not a duration"),
    (["ack", "--alertmanager", "http://127.0.0.1:1"], "name the alert to acknowledge"),
])
def test_ack_errors_exit_2(capsys, argv, fragment):
    assert main([*argv, "--root", str(ROOT)]) == 2
    assert fragment in capsys.readouterr().err
