"""pagerkit report against a real Prometheus holding a month of alert history and a real
Alertmanager holding the acknowledgements.

The month is the four weeks around New Zealand's next daylight-saving change (the first
Sunday of April, clocks back from 03:00 NZDT to 02:00 NZST), on a weekly rotation alice,
bob, carol, alice that hands over on Mondays at 09:00 Berlin time. It is in the future:
Alertmanager moves the start of a silence made for the past to the present, so an
acknowledgement cannot be backdated, but it keeps a future start as given. Each
acknowledgement is therefore created, through the API the relay uses, as a pending silence
whose start is the exact moment of the acknowledgement, and the history is backfilled
around it. Prometheus holds the history as blocks made by promtool from OpenMetrics, with
an evaluation interval of 15s, which the report reads from it: every duration below is a
multiple of it and is asserted exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pagerkit.alertmanager import ack_comment
from pagerkit.bundle.alerts import load_spec
from pagerkit.cli import main
from tests.conftest import ROOT, free_port, require, tool
from tests.harness.report_history import HistoryPrometheus, Incident, backfill

pytestmark = pytest.mark.integration

HOUR, DAY = 3600.0, 86400.0
CANARY = "RabbitMQCanaryFailing"


def nz_fall_back_sunday(after: dt.datetime) -> dt.date:
    """The first Sunday of April (New Zealand's clocks go back) at least 3 weeks after
    ``after``, so that the whole month is still ahead."""
    year = after.year
    while True:
        day = dt.date(year, 4, 1)
        day += dt.timedelta(days=(6 - day.weekday()) % 7)
        if dt.datetime.combine(day, dt.time(), dt.UTC) - after > dt.timedelta(days=23):
            return day
        year += 1


@dataclass(frozen=True)
class Scenario:
    since: float
    until: float
    incidents: tuple[Incident, ...]
    acks: tuple[tuple[str, float, float, str], ...]
    """(alertname, moment, end, member) of each acknowledgement."""


def utc(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC).timestamp()


def scenario(sunday: dt.date) -> Scenario:
    """Weeks A (alice, Berlin, CET), B (bob, New York, EDT; Berlin moves to CEST at its
    end, so it lasts 167 h), C (carol, Auckland, across the NZ change), D (alice, CEST)."""
    monday = sunday - dt.timedelta(days=20)
    day = [monday + dt.timedelta(days=n) for n in range(30)]
    queue = {"queue": "jobs.env-03", "source": "ci-mq", "vhost": "ci"}
    canary = {"source": "ci-mq"}
    incidents = (
        # before the window: counts as time firing, not as a page
        Incident("RabbitMQDown", "critical", utc(day[0], 7, 30), 3600, {"source": "ci-mq"}),
        # week A, alice: two flaps in one night (01:00 and 04:00 Berlin), one by day
        Incident(CANARY, "critical", utc(day[1], 0), 60, canary),
        Incident(CANARY, "critical", utc(day[1], 3), 120, canary),
        Incident(CANARY, "critical", utc(day[2], 11), 180, canary),
        Incident("QueueWithoutConsumers", "critical", utc(day[3], 13), 480, queue),
        Incident("PagerkitExporterDown", "critical", utc(day[4], 9), 960,
                 {"instance": "127.0.0.1:9630"}),
        Incident("BacklogGrowing", "warning", utc(day[5], 10), 1800,
                 {"source": "ci-mq", "vhost": "ci"}),
        # week B, bob (EDT): 23:30, acknowledged after 4 minutes; by day; 02:00, 4m45s
        Incident("JobsWaitingTooLong", "critical", utc(day[8], 3, 30), 1500,
                 {"queue": "env-03", "source": "ci-db"}),
        Incident(CANARY, "critical", utc(day[9], 15), 1200, canary),
        Incident(CANARY, "critical", utc(day[10], 6), 285, canary),
        # week C, carol: two hours from 02:30 NZDT, across the change, to 03:30 NZST
        Incident("PostgresDown", "critical", utc(sunday - dt.timedelta(days=1), 13, 30), 7200,
                 {"source": "ci-db"}),
        Incident(CANARY, "critical", utc(sunday - dt.timedelta(days=3), 2), 60, canary),
        # week D, alice (CEST): 23:30
        Incident(CANARY, "critical", utc(sunday + dt.timedelta(days=3), 21, 30), 120, canary),
        # a warning that never stops
        Incident("PostgresLongRunningTransaction", "warning", utc(day[0], 0) - 3 * DAY,
                 35 * DAY, {"source": "ci-db"}),
    )
    by = {i.alertname + str(i.start): i for i in incidents}

    def ack(alertname: str, start: float, after: float, member: str) -> tuple[
            str, float, float, str]:
        incident = by[alertname + str(start)]
        return alertname, start + after, incident.start + incident.seconds, member

    acks = (ack("QueueWithoutConsumers", utc(day[3], 13), 120, "alice"),
            ack("PagerkitExporterDown", utc(day[4], 9), 720, "alice"),
            ack("JobsWaitingTooLong", utc(day[8], 3, 30), 240, "bob"),
            ack(CANARY, utc(day[9], 15), 300, "bob"))
    since = dt.datetime.combine(monday, dt.time(8, 0), dt.UTC).timestamp()
    until = dt.datetime.combine(monday + dt.timedelta(days=28), dt.time(7, 0),
                                dt.UTC).timestamp()
    return Scenario(since, until, incidents, acks)


@dataclass(frozen=True)
class Stack:
    root: Path
    scenario: Scenario
    prometheus: str
    alertmanager: str


def silence(url: str, alertname: str, at: float, ends: float, member: str,
            comment: str) -> None:
    body = {"matchers": [{"name": "alertname", "value": alertname, "isRegex": False,
                          "isEqual": True},
                         {"name": "team", "value": "platform", "isRegex": False,
                          "isEqual": True}],
            "startsAt": dt.datetime.fromtimestamp(at, dt.UTC).isoformat(),
            "endsAt": dt.datetime.fromtimestamp(ends, dt.UTC).isoformat(),
            "createdBy": member, "comment": comment}
    response = requests.post(f"{url}/api/v2/silences", json=body, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.harness.paging import AlertmanagerProcess

    promtool = tool("promtool", "prometheus")
    tool("prometheus", "prometheus")
    require(shutil.which("prometheus-alertmanager") is not None
            or shutil.which("alertmanager") is not None,
            "alertmanager (Debian package prometheus-alertmanager)")
    base = tmp_path_factory.mktemp("report")
    sunday = nz_fall_back_sunday(dt.datetime.now(dt.UTC))
    case = scenario(sunday)
    root = base / "repo"
    shutil.copytree(ROOT / "rules", root / "rules")
    shutil.copytree(ROOT / "alertmanager", root / "alertmanager")
    routing = root / "alertmanager" / "routing.yaml"
    routing.write_text(routing.read_text().replace(
        'start: "2026-11-23"', f'start: "{sunday - dt.timedelta(days=20)}"'))
    backfill(promtool, case.incidents, 15.0, base / "data")
    prometheus = HistoryPrometheus(base / "data", free_port(), "15s")
    config = base / "alertmanager.yml"
    config.write_text("route: {receiver: nobody}\nreceivers: [{name: nobody}]\n")
    alertmanager = AlertmanagerProcess(config, free_port())
    try:
        for alertname, at, ends, member in case.acks:
            silence(alertmanager.url, alertname, at, ends, member, ack_comment(member, "sms"))
        # not an acknowledgement: made by hand, without the comment
        silence(alertmanager.url, CANARY, case.incidents[3].start + 30,
                case.incidents[3].start + 600, "dave", "maintenance of the broker")
        yield Stack(root, case, prometheus.url, alertmanager.url)
    finally:
        alertmanager.stop()
        prometheus.stop()


def run_report(stack: Stack, capsys: pytest.CaptureFixture[str], *extra: str,
               since: float | None = None, until: float | None = None,
               prometheus: str | None = None, alertmanager: str | None = None,
               ) -> tuple[int, str, str]:
    def iso(value: float) -> str:
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()

    code = main(["report", "--root", str(stack.root),
                 "--since", iso(stack.scenario.since if since is None else since),
                 "--until", iso(stack.scenario.until if until is None else until),
                 "--prometheus", prometheus or stack.prometheus,
                 "--alertmanager", alertmanager or stack.alertmanager, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_report_gives_the_months_figures_exactly(stack, capsys):
    """Pages, durations, noise, escalation, acknowledgement times, night pages per member
    and the suggested for, from the backfilled month and the acknowledgement silences."""
    code, out, err = run_report(stack, capsys, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    alerts = {a["alertname"]: a for a in report["alerts"]}
    canary = alerts[CANARY]
    assert (canary["pages"], canary["firings"], canary["firing_seconds"]) == (7, 7, 2025)
    assert (canary["median_seconds"], canary["p95_seconds"]) == (120, 1200)
    assert (canary["noise"], canary["escalated"], canary["acknowledged"]) == (6, 0, 1)
    assert canary["median_ack_seconds"] == 300
    # the team's median time to acknowledge is 270s (120, 240, 300, 720): the 4m45s flap
    # must keep paging, the five shorter ones (up to 3m) go quiet with for 3m + 3m
    assert (canary["suggested_for_seconds"], canary["quieted"]) == (360, 5)
    assert report["teams"][0]["median_ack_seconds"] == 270

    jobs = alerts["JobsWaitingTooLong"]
    assert (jobs["pages"], jobs["median_seconds"], jobs["median_ack_seconds"]) == (1, 1500, 240)
    assert (jobs["noise"], jobs["escalated"]) == (0, 0)  # tiers 2 and 3 fired after the ack
    down = alerts["PostgresDown"]
    assert (down["pages"], down["median_seconds"], down["escalated"]) == (1, 7200, 1)
    assert (down["acknowledged"], down["median_ack_seconds"]) == (0, None)
    exporter = alerts["PagerkitExporterDown"]
    assert (exporter["escalated"], exporter["median_ack_seconds"]) == (1, 720)
    before = alerts["RabbitMQDown"]
    assert (before["pages"], before["firings"], before["firing_seconds"]) == (0, 0, 1800)

    pages = {(p["alertname"], p["start"]): p for p in report["pages"]}
    night = next(p for (name, _), p in pages.items() if name == "PostgresDown")
    assert (night["member"], night["local_hour"], night["tier"]) == ("carol", 2, 4)
    assert night["seconds"] == 7200
    members = {m["name"]: m for m in report["members"]}
    assert {n: (m["on_call_seconds"] / HOUR, m["pages"], m["night_pages"],
                m["nights_interrupted"]) for n, m in members.items()} == {
        "alice": (336, 6, 3, 2), "bob": (167, 3, 2, 2), "carol": (168, 2, 1, 1)}
    rates = {"alice": 6 / 2, "bob": 3 / (167 / 168), "carol": 2.0}
    assert report["teams"][0]["spread"] == pytest.approx(rates["bob"] / (11 / (671 / 168)))

    assert report["chronic_warnings"] == ["PostgresLongRunningTransaction"]
    fired = {"RabbitMQDown", CANARY, "QueueWithoutConsumers", "PagerkitExporterDown",
             "BacklogGrowing", "JobsWaitingTooLong", "PostgresDown",
             "PostgresLongRunningTransaction"}
    expected = sorted(a.name for a in load_spec(ROOT).alerts
                      if a.severity != "info" and a.name not in fired)
    assert report["never_fired"] == expected
    assert report["acks_available"] is True and report["notes"] == []


def test_markdown_for_the_chat(stack, capsys):
    code, out, _ = run_report(stack, capsys, "--format", "markdown")
    assert code == 0
    assert "11 page(s), 6 of them noise" in out
    assert f"| {CANARY} | critical | 7 | 7 |" in out
    assert "- RabbitMQCanaryFailing: for: 6m instead of 3m" in out
    assert "PostgresLongRunningTransaction fired for 100% of the window" in out


def test_html_report_opens_in_chromium_with_its_plots(stack, capsys, tmp_path):
    """One self-contained file: no console error, no request, the three plots drawn."""
    from tests.harness.browser import chromium, screenshot

    page = tmp_path / "report.html"
    code, _, err = run_report(stack, capsys, "-o", str(page))
    assert code == 0, err
    text = page.read_text()
    assert "<script" not in text and not re.search(r'(src|href)="(?!#)', text)
    with chromium() as browser:
        browser.get(page.as_uri())
        plots = browser.execute_script(
            "return [...document.querySelectorAll('figure.plot')].map("
            "f => [f.id, f.querySelector('svg').getBoundingClientRect().height])")
        requests_made = browser.execute_script(
            "return performance.getEntriesByType('resource').length")
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1200, min(int(height) + 150, 8000))
        shot = screenshot(browser, "report")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert [p[0] for p in plots] == ["pages-by-hour", "pages-per-alert", "timeline"], shot
    assert all(height > 100 for _, height in plots), plots
    assert requests_made == 0 and errors == [], errors


def test_without_alertmanager_the_rest_is_reported(stack, capsys):
    code, out, err = run_report(stack, capsys, "--format", "markdown",
                                alertmanager=f"http://127.0.0.1:{free_port()}")
    assert code == 0
    assert "Acknowledgements are missing: cannot reach Alertmanager" in err
    assert "> Acknowledgements are missing" in out
    assert "11 page(s)" in out and "(acknowledgements unknown)" in out


def test_an_empty_window_says_nothing_fired(stack, capsys):
    code, out, _ = run_report(stack, capsys, since=stack.scenario.since - 10 * DAY,
                              until=stack.scenario.since - 9 * DAY)
    assert code == 0
    assert "Nothing fired in this window" in out


def test_a_window_longer_than_the_retention_is_cut_to_it(stack, capsys):
    """The history's Prometheus keeps 60 days; a window reaching back 61 is cut, and says
    so."""
    now = dt.datetime.now(dt.UTC).timestamp()
    code, out, err = run_report(stack, capsys, "--format", "markdown", since=now - 61 * DAY,
                                until=now)
    assert code == 0, err
    assert "Prometheus keeps 60d of history" in err and "covers only from" in out


@pytest.mark.parametrize(("args", "fragment"), [
    (["--since", "28 days"], "--since: '28 days' is neither a duration such as 28d"),
    (["--since", "2d", "--until", "yesterday"], "--until: 'yesterday' is neither"),
    (["--since", "2030-01-02", "--until", "2030-01-01"], "--since: the window from"),
    (["--noise", "five"], "--noise: 'five' is not a duration"),
    (["--night", "late"], "--night: 'late' is not a span of the clock"),
    (["--team", "nobody"], "no team nobody"),
])
def test_bad_arguments_exit_2_with_the_flag(stack, capsys, args, fragment):
    code = main(["report", "--root", str(stack.root), "--prometheus", stack.prometheus, *args])
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_prometheus_unreachable_exits_2(stack, capsys):
    code, _, err = run_report(stack, capsys, prometheus=f"http://127.0.0.1:{free_port()}")
    assert code == 2
    assert "pagerkit: --prometheus: cannot reach Prometheus at http://127.0.0.1:" in err
    assert "PAGERKIT_PROMETHEUS_URL" in err
