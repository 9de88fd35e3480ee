"""The routing spec: bad input refused with file and line, who is on call, the calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from pagerkit.cli import main
from tests.unit.bundle.test_bundle import edit, line_of

ROUTING = "alertmanager/routing.yaml"

BAD_ROUTING = [
    ("unknown member in the rotation", "order: [alice, bob, carol]",
     "order: [alice, bob, dave]", "order: [alice, bob, dave]",
     "dave is not a member of team platform"),
    ("unknown time zone", "name: bob, timezone: America/New_York",
     "name: bob, timezone: America/Gotham", "America/Gotham",
     "'America/Gotham' is not a time zone"),
    ("start is not the hand-off day", 'start: "2026-11-23"', 'start: "2026-11-24"',
     'start: "2026-11-24"', "is a tuesday, not the hand-off day monday"),
    ("escalation out of order", "{after: 20m, target: primary, channel: voice}",
     "{after: 5m, target: primary, channel: voice}", "after: 5m",
     "tier 3 starts after tier 2"),
    ("override ends before it starts", 'end: "2026-12-27T09:00"', 'end: "2026-12-23T09:00"',
     'end: "2026-12-23T09:00"', "an override must end after it starts"),
]


@pytest.mark.parametrize(("old", "new", "where", "fragment"), [c[1:] for c in BAD_ROUTING],
                         ids=[c[0] for c in BAD_ROUTING])
def test_bad_routing(repo, capsys, old, new, where, fragment):
    edit(repo / ROUTING, old, new)
    assert main(["generate", "--check", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert f"{ROUTING}:{line_of(repo / ROUTING, where)}: " in err
    assert fragment in err


def test_a_gap_in_follow_the_sun_is_refused_in_local_and_utc_time(repo, capsys):
    edit(repo / ROUTING, """      weekly_rotation:
        order: [alice, bob, carol]
        handoff_day: monday
        handoff_time: "09:00"
        start: "2026-11-23\"""", """      follow_the_sun:
        start: "2026-11-23"
        shifts:
          - {member: alice, start: "08:00", end: "16:00"}
          - {member: bob, start: "10:00", end: "18:00"}
          - {member: carol, start: "08:00", end: "15:00\"}""")
    assert main(["generate", "--check", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert f"{ROUTING}:{line_of(repo / ROUTING, 'schedule:')}: team platform: gap from " in err
    assert "UTC" in err and ("CET" in err or "CEST" in err)


@pytest.mark.parametrize(("at", "expected"), [
    ("2026-11-30T08:59+01:00", "platform: alice until Mon 2026-11-30 09:00 CET (08:00 UTC); "
                               "secondary: bob"),
    ("2026-11-30T09:00+01:00", "platform: bob until Mon 2026-12-07 09:00 CET (08:00 UTC); "
                               "secondary: carol"),
    ("2026-12-08T10:00+13:00", "platform: carol until Mon 2026-12-14 09:00 CET (08:00 UTC); "
                               "secondary: alice"),
    ("2026-12-25T12:00+01:00", "platform: alice until Sun 2026-12-27 09:00 CET (08:00 UTC); "
                               "secondary: carol"),
    ("2026-12-27T09:00+01:00", "platform: bob until Mon 2026-12-28 09:00 CET (08:00 UTC); "
                               "secondary: carol"),
])
def test_oncall_who(repo, capsys, at, expected):
    """The rotation, its Monday 09:00 Berlin hand-off seen from Auckland, and alice's
    Christmas override inside bob's week (the secondary stays the rotation's)."""
    assert main(["oncall", "who", "--root", str(repo), "--at", at]) == 0
    assert capsys.readouterr().out.strip() == expected


def test_oncall_calendar(repo, capsys):
    from icalendar import Calendar

    assert main(["oncall", "calendar", "--team", "platform", "--root", str(repo)]) == 0
    events = [c for c in Calendar.from_ical(capsys.readouterr().out).walk("VEVENT")]
    assert str(events[0]["summary"]) == "alice on call (platform)"
    assert events[0].decoded("dtstart") == dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    starts = [e.decoded("dtstart") for e in events]
    assert starts == sorted(starts) and len(events) >= 10
    assert main(["oncall", "calendar", "--team", "nobody", "--root", str(repo)]) == 2


PUSHOVER = ("{name: alice, timezone: Europe/Berlin, channels: [push, sms, voice]}",
            "{name: alice, timezone: Europe/Berlin, channels: [push, sms, voice], "
            "pushover: {user_key_file: /run/secrets/alice_user, token_file: /run/secrets/po}}")


def test_pushover_keys_need_alertmanager_026(repo, capsys):
    """0.25 has no *_file fields for Pushover: the generator refuses rather than writing
    the keys, and says what to do."""
    edit(repo / ROUTING, *PUSHOVER)
    assert main(["generate", "--check", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert f"{ROUTING}:{line_of(repo / ROUTING, 'pushover:')}: Alertmanager 0.25 has no " in err
    assert 'set alertmanager_version: "0.26"' in err


def test_pushover_from_alertmanager_026(repo, capsys):
    import yaml

    edit(repo / ROUTING, *PUSHOVER)
    edit(repo / ROUTING, 'alertmanager_version: "0.25"', 'alertmanager_version: "0.26"')
    assert main(["generate", "--root", str(repo)]) == 0
    text = (repo / "alertmanager/alertmanager.yml").read_text()
    assert "for Alertmanager 0.26; uses pushover user_key_file and token_file (0.26)" in text
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    pushover = receivers["platform-alice-push"]["pushover_configs"][0]
    assert pushover["user_key_file"] == "/run/secrets/alice_user"
    assert "webhook_configs" in receivers["platform-bob-push"]
