"""The report's figures from firings and acknowledgements given by hand: no services."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import sys

import pytest

from pagerkit.errors import UserError
from pagerkit.oncall.routing import load_routing
from pagerkit.report.build import output_format, window
from pagerkit.report.data import (
    MAX_POINTS,
    Ack,
    Firing,
    History,
    Matcher,
    RunBuilder,
    ack_of,
    chunks,
    matrix_stamps,
)
from pagerkit.report.figures import Settings, figures, night_of, suggest_for
from pagerkit.report.render import PLOTS_HINT, render
from tests.conftest import ROOT

TEAM = load_routing(ROOT).teams[0]
"""The example team: weekly rotation alice, bob, carol from Monday 2026-11-23 09:00 Berlin."""
T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC).timestamp()  # alice's week, 13:00 CET


def labels(alertname: str = "Broken", severity: str = "critical", tier: str | None = "1",
           **extra: str) -> tuple[tuple[str, str], ...]:
    base = {"alertname": alertname, "severity": severity, "team": "platform", **extra}
    return tuple(sorted({**base, **({"tier": tier} if tier else {})}.items()))


def ack(at: float, alertname: str = "Broken", member: str = "alice") -> Ack:
    return Ack((Matcher("alertname", alertname), Matcher("team", "platform")), at, at + 3600,
               member, "sms")


def history(*firings: Firing, acks: tuple[Ack, ...] | None = (), since: float = T0 - 3600,
            until: float = T0 + 86400) -> History:
    return History(since, until, 15.0, firings, acks)


def test_a_firing_is_exact_despite_the_lookback_repeats():
    """A sample read twice (at the edge of two chunks) adds nothing; a gap over 1.5
    intervals ends the firing."""
    builder = RunBuilder(15.0)
    key = labels()
    builder.feed(key, [100.0, 115.0, 130.0, 130.0, 130.0])
    builder.feed(key, [130.0, 145.0, 400.0, 415.0])
    assert builder.firings(0, 1000) == [Firing(key, 100.0, 160.0), Firing(key, 400.0, 430.0)]


def test_firings_across_the_window_edges_are_cut_and_marked():
    builder = RunBuilder(15.0)
    builder.feed(labels(), [85.0, 100.0, 115.0])
    builder.feed(labels("Late"), [985.0, 1000.0])
    assert builder.firings(100, 1000) == [
        Firing(labels(), 100.0, 130.0, before=True),
        Firing(labels("Late"), 985.0, 1000.0, ongoing=True)]


def test_chunks_stay_within_the_points_limit_and_leave_no_gap():
    parts = chunks(0, 90 * 86400, 15)
    assert all((end - start) / 15 <= MAX_POINTS for start, end in parts)
    assert parts[0][0] == 0 and parts[-1][1] == 90 * 86400
    assert all(b[0] == a[1] for a, b in itertools.pairwise(parts))


def test_only_acknowledgement_silences_count():
    base = {"matchers": [{"name": "alertname", "value": "X", "isRegex": False,
                          "isEqual": True}],
            "startsAt": "2026-11-24T12:04:00.000Z", "endsAt": "2026-11-24T13:00:00Z",
            "createdBy": "bob"}
    found = ack_of({**base, "comment": "pagerkit ack: bob by voice: on it"})
    assert found is not None and (found.member, found.channel) == ("bob", "voice")
    assert found.at == dt.datetime(2026, 11, 24, 12, 4, tzinfo=dt.UTC).timestamp()
    assert ack_of({**base, "comment": "maintenance"}) is None


def test_a_page_acknowledged_in_time_did_not_escalate():
    """Tier 2 fires in Prometheus under the silence too; it paged nobody."""
    result = figures(history(Firing(labels(), T0, T0 + 1500),
                             Firing(labels(tier="2"), T0 + 600, T0 + 1500),
                             acks=(ack(T0 + 240),)), [], [TEAM])
    (page,) = result.pages
    assert (page.ack_seconds, page.tier, page.noise, page.member) == (240, 1, False, "alice")
    late = figures(history(Firing(labels(), T0, T0 + 1500),
                           Firing(labels(tier="2"), T0 + 600, T0 + 1500),
                           acks=(ack(T0 + 720),)), [], [TEAM])
    assert late.pages[0].tier == 2 and late.alerts[0].escalated == 1


def test_noise_is_short_and_unacknowledged():
    result = figures(history(Firing(labels(), T0, T0 + 120),
                             Firing(labels(), T0 + 3600, T0 + 3720),
                             Firing(labels(), T0 + 7200, T0 + 7800),
                             acks=(ack(T0 + 3660),)), [], [TEAM])
    assert [p.noise for p in result.pages] == [True, False, False]


def test_without_alertmanager_nothing_is_acknowledged_and_nothing_suggested():
    result = figures(history(Firing(labels(), T0, T0 + 120), acks=None), [], [TEAM])
    assert not result.acks_available and result.alerts[0].suggested_for_seconds is None


@pytest.mark.parametrize(("noisy", "longer", "team_ack", "expected"), [
    ([60, 120, 180], [1200], 270, (360.0, 3)),
    ([60, 285], [1200], 270, (240.0, 1)),     # 285 > 270 must keep paging
    ([285], [], 270, (None, 0)),
    ([60], [], None, (None, 0)),
    ([], [600], 270, (None, 0)),
])
def test_suggested_for(noisy, longer, team_ack, expected):
    result = figures(history(
        *(Firing(labels(), T0 + i * 3600, T0 + i * 3600 + d) for i, d in enumerate(noisy)),
        *(Firing(labels(), T0 + 50000 + i * 3600, T0 + 50000 + i * 3600 + d)
          for i, d in enumerate(longer)),
        acks=tuple(ack(T0 + 50000 + i * 3600 + 1) for i in range(len(longer)))), [], [TEAM])
    pages = result.pages
    assert suggest_for(180.0, pages, team_ack)[:2] == expected


def test_a_night_across_new_zealands_daylight_saving_change():
    """02:30 NZDT on 2027-04-04 (clocks go back at 03:00) is the night that began on the
    3rd; 03:30 NZST, two hours later, is the same night."""
    zone = dt.UTC
    auckland = __import__("zoneinfo").ZoneInfo("Pacific/Auckland")
    first = dt.datetime(2027, 4, 3, 13, 30, tzinfo=zone).astimezone(auckland)
    later = dt.datetime(2027, 4, 3, 15, 30, tzinfo=zone).astimezone(auckland)
    assert (first.hour, later.hour) == (2, 3)
    assert night_of(first, Settings()) == night_of(later, Settings()) == "2027-04-03"
    noon = dt.datetime(2027, 4, 4, 12, 0, tzinfo=auckland)
    assert night_of(noon, Settings()) is None
    day_sleeper = Settings(night_start=dt.time(9, 0), night_end=dt.time(17, 0))
    assert night_of(noon, day_sleeper) == "2027-04-04"


def test_members_hours_pages_and_nights():
    night = dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC).timestamp()  # 01:30 Berlin
    result = figures(history(Firing(labels(), T0, T0 + 60), Firing(labels(), night, night + 60),
                             Firing(labels(), night + 3600, night + 3660),
                             since=T0, until=T0 + 7 * 86400), [], [TEAM])
    alice = next(m for m in result.members if m.name == "alice")
    assert (alice.pages, alice.night_pages, alice.nights_interrupted) == (3, 2, 1)
    on_call = {m.name: m.on_call_seconds / 3600 for m in result.members}
    assert on_call == {"alice": 140.0, "bob": 28.0, "carol": 0.0}


def test_warnings_firing_most_of_the_window_and_alerts_that_never_fired():
    from pagerkit.bundle.alerts import load_spec

    spec = load_spec(ROOT).alerts
    result = figures(history(Firing(labels("BacklogGrowing", "warning", None), T0 - 3600,
                                    T0 + 86400, before=True, ongoing=True)), spec, [TEAM])
    assert result.chronic_warnings == ("BacklogGrowing",)
    assert "Watchdog" not in result.never_fired and "BacklogGrowing" not in result.never_fired
    assert "PostgresDown" in result.never_fired


def test_window_and_format():
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC).timestamp()
    assert window("28d", None, now) == (now - 28 * 86400, now)
    assert window("2026-11-01", "2026-11-02T00:00+01:00", now) == (
        dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp(),
        dt.datetime(2026, 11, 1, 23, tzinfo=dt.UTC).timestamp())
    with pytest.raises(UserError, match="is neither a duration"):
        window("4 weeks", None, now)
    assert (output_format(None, "r.json"), output_format(None, None),
            output_format("html", "r.md")) == ("json", "markdown", "html")


def test_html_without_matplotlib_keeps_its_tables(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = render(figures(history(Firing(labels(), T0, T0 + 60)), [], [TEAM]), "html")
    assert html.escape(PLOTS_HINT) in page and "<table>" in page and "<svg" not in page


def test_json_is_json():
    data = json.loads(render(figures(history(Firing(labels(), T0, T0 + 60)), [], [TEAM]),
                             "json"))
    assert data["pages"][0]["start"] == "2026-11-24T12:00:00Z"
    assert data["settings"] == {"noise_seconds": 300.0, "night": "22:00-07:00"}


def test_matrix_answers_are_read_without_a_list_per_sample():
    answer = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"alertname": "A", "queue": 'odd "]]}" name'},
         "values": [[1700000000, "1"], [1700000015.5, "1"]]},
        {"metric": {"alertname": "B"}, "values": [[1.7e9, "1"]]}]}}, separators=(",", ":"))
    assert list(matrix_stamps(answer)) == [
        ({"alertname": "A", "queue": 'odd "]]}" name'}, [1700000000.0, 1700000015.5]),
        ({"alertname": "B"}, [1.7e9])]


def test_an_acknowledgement_covers_the_first_tier_it_leaves_unmuted() -> None:
    """An acknowledgement's silence carries ``tier!="1"`` so that Alertmanager sends the
    first tier's resolve; the report still counts the paged first tier as acknowledged."""
    from pagerkit.alertmanager import FIRST_TIER_KEPT
    from pagerkit.report.data import ack_of

    silence = {"matchers": [{"name": "alertname", "value": "X", "isRegex": False,
                             "isEqual": True}, FIRST_TIER_KEPT],
               "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2026-01-01T00:30:00Z",
               "createdBy": "alice", "comment": "pagerkit ack: alice by push link"}
    ack = ack_of(silence)
    assert ack is not None
    assert ack.matches({"alertname": "X", "tier": "1", "team": "t"})
    assert not ack.matches({"alertname": "Y", "tier": "1"})
