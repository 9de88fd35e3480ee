"""On-call schedules: rotations, follow-the-sun, daylight saving, overrides, coverage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pagerkit.oncall.schedule import (
    CoverageProblem,
    DailyShift,
    FollowTheSun,
    Override,
    Shift,
    WeeklyRotation,
    coverage_problems,
    on_call,
    secondary,
    shifts,
    with_overrides,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def rotation(start: date, order: tuple[str, ...] = ("alice", "bob", "carol"),
             handoff: time = time(9, 0)) -> WeeklyRotation:
    """The team's rotation: Berlin is the team's zone, whatever zone each member lives in."""
    return WeeklyRotation(order=order, timezone="Europe/Berlin", handoff=handoff, start=start)


def sun(alice_end: time = time(14, 0)) -> FollowTheSun:
    """Three 8-hour shifts that tile the day exactly while the north is on summer time and New
    Zealand on standard time (2026-04-05 to 2026-09-27): carol 20-04, alice 04-12, bob 12-20
    UTC."""
    return FollowTheSun((
        DailyShift("carol", "Pacific/Auckland", time(8, 0), time(16, 0)),
        DailyShift("alice", "Europe/Berlin", time(6, 0), alice_end),
        DailyShift("bob", "America/New_York", time(8, 0), time(16, 0)),
    ))


def spans(shift_list: list[Shift]) -> list[tuple[str, datetime, datetime]]:
    return [(s.member, s.start, s.end) for s in shift_list]


def local_times(shift_list: list[Shift], zone: ZoneInfo) -> set[tuple[time, time]]:
    return {(s.start.astimezone(zone).time(), s.end.astimezone(zone).time()) for s in shift_list}


# Weekly rotation


def test_weekly_rotation_hands_off_monday_0900_berlin_and_cycles_the_order() -> None:
    """Four winter weeks: Monday 09:00 CET is 08:00 UTC, and the order cycles back to alice."""
    got = shifts(rotation(date(2026, 1, 5)), utc(2026, 1, 5, 8), utc(2026, 2, 2, 8))
    assert spans(got) == [
        ("alice", utc(2026, 1, 5, 8), utc(2026, 1, 12, 8)),
        ("bob", utc(2026, 1, 12, 8), utc(2026, 1, 19, 8)),
        ("carol", utc(2026, 1, 19, 8), utc(2026, 1, 26, 8)),
        ("alice", utc(2026, 1, 26, 8), utc(2026, 2, 2, 8)),
    ]
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in got)


def test_weekly_handoff_stays_0900_local_across_spring_forward() -> None:
    """The week spanning 2026-03-29 (CET -> CEST) is 167 h long; both hand-offs are 09:00."""
    got = shifts(rotation(date(2026, 3, 23)), utc(2026, 3, 23, 8), utc(2026, 4, 6, 7))
    assert spans(got) == [
        ("alice", utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)),
        ("bob", utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)),
    ]
    assert got[0].end - got[0].start == timedelta(hours=167)
    assert local_times(got, BERLIN) == {(time(9, 0), time(9, 0))}


def test_weekly_handoff_stays_0900_local_across_fall_back() -> None:
    """The week spanning 2026-10-25 (CEST -> CET) is 169 h long."""
    (week,) = shifts(rotation(date(2026, 10, 19)), utc(2026, 10, 19, 7), utc(2026, 10, 26, 8))
    assert (week.start, week.end) == (utc(2026, 10, 19, 7), utc(2026, 10, 26, 8))
    assert week.end - week.start == timedelta(hours=169)
    assert local_times([week], BERLIN) == {(time(9, 0), time(9, 0))}


def test_rotation_is_clipped_to_the_window_given_in_any_zone() -> None:
    """A window in New York time cuts the first and last turns; nothing before turn 0."""
    start = datetime(2026, 1, 1, 0, 0, tzinfo=NEW_YORK)  # 05:00 UTC, before the rotation
    got = shifts(rotation(date(2026, 1, 5)), start, datetime(2026, 1, 14, 7, tzinfo=NEW_YORK))
    assert spans(got) == [
        ("alice", utc(2026, 1, 5, 8), utc(2026, 1, 12, 8)),
        ("bob", utc(2026, 1, 12, 8), utc(2026, 1, 14, 12)),
    ]


def test_window_in_the_middle_of_a_long_rotation_starts_with_the_right_turn() -> None:
    """A year in, the turn is found by arithmetic on dates: 52 turns later is bob's (52 % 3)."""
    got = shifts(rotation(date(2026, 1, 5)), utc(2027, 1, 4, 7), utc(2027, 1, 4, 9))
    assert spans(got) == [
        ("alice", utc(2027, 1, 4, 7), utc(2027, 1, 4, 8)),
        ("bob", utc(2027, 1, 4, 8), utc(2027, 1, 4, 9)),
    ]


# Follow-the-sun and daylight saving in both hemispheres


def test_auckland_shift_keeps_local_times_when_new_zealand_leaves_summer_time() -> None:
    """On 2026-04-05 NZDT -> NZST: carol's 08:00-16:00 stays local, UTC moves one hour later."""
    carol = FollowTheSun((DailyShift("carol", "Pacific/Auckland", time(8, 0), time(16, 0)),))
    got = shifts(carol, utc(2026, 4, 3, 12), utc(2026, 4, 6, 12))
    assert spans(got) == [
        ("carol", utc(2026, 4, 3, 19), utc(2026, 4, 4, 3)),
        ("carol", utc(2026, 4, 4, 20), utc(2026, 4, 5, 4)),
        ("carol", utc(2026, 4, 5, 20), utc(2026, 4, 6, 4)),
    ]
    assert local_times(got, AUCKLAND) == {(time(8, 0), time(16, 0))}


def test_auckland_shift_keeps_local_times_when_new_zealand_enters_summer_time() -> None:
    """On 2026-09-27 NZST -> NZDT: carol's 08:00-16:00 stays local, UTC moves one hour earlier."""
    carol = FollowTheSun((DailyShift("carol", "Pacific/Auckland", time(8, 0), time(16, 0)),))
    got = shifts(carol, utc(2026, 9, 25, 12), utc(2026, 9, 28, 12))
    assert spans(got) == [
        ("carol", utc(2026, 9, 25, 20), utc(2026, 9, 26, 4)),
        ("carol", utc(2026, 9, 26, 19), utc(2026, 9, 27, 3)),
        ("carol", utc(2026, 9, 27, 19), utc(2026, 9, 28, 3)),
    ]
    assert local_times(got, AUCKLAND) == {(time(8, 0), time(16, 0))}


def test_follow_the_sun_tiles_the_day_in_northern_summer() -> None:
    """Three zones' 8-hour shifts meet exactly: no gap, no overlap over a June week."""
    got = shifts(sun(), utc(2026, 6, 1, 4), utc(2026, 6, 2, 4))
    assert spans(got) == [
        ("alice", utc(2026, 6, 1, 4), utc(2026, 6, 1, 12)),
        ("bob", utc(2026, 6, 1, 12), utc(2026, 6, 1, 20)),
        ("carol", utc(2026, 6, 1, 20), utc(2026, 6, 2, 4)),
    ]
    week = (utc(2026, 6, 1), utc(2026, 6, 8))
    assert coverage_problems(shifts(sun(), *week), *week) == []


def test_follow_the_sun_breaks_when_only_new_zealand_changes_clocks() -> None:
    """After 2026-09-27 carol starts an hour earlier in UTC while Berlin and New York do not:
    she overlaps bob 19:00-20:00 UTC and leaves 03:00-04:00 UTC uncovered; the caller must
    refuse such a spec."""
    window = (utc(2026, 9, 26), utc(2026, 9, 28))
    assert coverage_problems(shifts(sun(), *window), *window) == [
        CoverageProblem("overlap", utc(2026, 9, 26, 19), utc(2026, 9, 26, 20), ("bob", "carol")),
        CoverageProblem("gap", utc(2026, 9, 27, 3), utc(2026, 9, 27, 4), ()),
        CoverageProblem("overlap", utc(2026, 9, 27, 19), utc(2026, 9, 27, 20), ("bob", "carol")),
    ]


def test_overnight_shift_belongs_to_the_weekday_it_starts() -> None:
    """Friday 22:00 to 06:00 covers Friday night into Saturday, and no other night."""
    nights = FollowTheSun((DailyShift("bob", "Europe/Berlin", time(22, 0), time(6, 0), (4,)),))
    got = shifts(nights, utc(2026, 1, 5), utc(2026, 1, 19))
    assert spans(got) == [
        ("bob", utc(2026, 1, 9, 21), utc(2026, 1, 10, 5)),
        ("bob", utc(2026, 1, 16, 21), utc(2026, 1, 17, 5)),
    ]


def test_equal_start_and_end_is_a_24_hour_shift() -> None:
    """start == end means the shift ends at the same time the next local day."""
    allday = FollowTheSun((DailyShift("alice", "Europe/Berlin", time(9, 0), time(9, 0), (0,)),))
    assert spans(shifts(allday, utc(2026, 1, 5), utc(2026, 1, 12))) == [
        ("alice", utc(2026, 1, 5, 8), utc(2026, 1, 6, 8)),
    ]


# Wall times that do not exist or happen twice


def test_skipped_handoff_moves_forward_to_the_first_valid_instant() -> None:
    """02:30 on 2026-03-29 does not exist in Berlin: the hand-off happens at 03:00 CEST
    (01:00 UTC), the moment clocks jump, not at 03:30."""
    schedule = rotation(date(2026, 3, 22), handoff=time(2, 30))
    got = shifts(schedule, utc(2026, 3, 22), utc(2026, 4, 6))
    assert spans(got) == [
        ("alice", utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1)),
        ("bob", utc(2026, 3, 29, 1), utc(2026, 4, 5, 0, 30)),
        ("carol", utc(2026, 4, 5, 0, 30), utc(2026, 4, 6)),
    ]
    assert got[1].start.astimezone(BERLIN).time() == time(3, 0)


def test_skipped_daily_start_moves_forward_and_an_empty_shift_is_dropped() -> None:
    """02:30-06:00 on the spring-forward Sunday starts at 03:00 CEST; 02:00-03:00 that night
    lasts no time at all and disappears, while the Sundays around it keep their hour."""
    late = FollowTheSun((DailyShift("alice", "Europe/Berlin", time(2, 30), time(6, 0), (6,)),))
    assert spans(shifts(late, utc(2026, 3, 28), utc(2026, 3, 30))) == [
        ("alice", utc(2026, 3, 29, 1), utc(2026, 3, 29, 4)),
    ]
    lost = FollowTheSun((DailyShift("bob", "Europe/Berlin", time(2, 0), time(3, 0), (6,)),))
    assert spans(shifts(lost, utc(2026, 3, 21), utc(2026, 4, 6))) == [
        ("bob", utc(2026, 3, 22, 1), utc(2026, 3, 22, 2)),
        ("bob", utc(2026, 4, 5, 0), utc(2026, 4, 5, 1)),
    ]


def test_repeated_time_takes_its_first_occurrence() -> None:
    """02:30 on 2026-10-25 happens twice in Berlin; both an end and a start there mean the
    first, 02:30 CEST (00:30 UTC), so the repeated hour belongs to the shift starting then."""
    fall = FollowTheSun((
        DailyShift("bob", "Europe/Berlin", time(22, 0), time(2, 30), (5,)),
        DailyShift("alice", "Europe/Berlin", time(2, 30), time(6, 0), (6,)),
    ))
    window = (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))
    got = shifts(fall, *window)
    assert spans(got) == [
        ("bob", utc(2026, 10, 24, 20), utc(2026, 10, 25, 0, 30)),
        ("alice", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 5)),
    ]
    assert coverage_problems(got, *window) == []
    assert on_call(got, utc(2026, 10, 25, 1, 30)) == "alice"  # 02:30 CET, the second pass


# Overrides

CHRISTMAS = (utc(2026, 12, 21, 8), utc(2027, 1, 4, 8))


def christmas(*overrides: Override) -> list[tuple[str, datetime, datetime]]:
    """alice's week from Mon 2026-12-21 09:00 Berlin, then bob's, with `overrides` applied."""
    return spans(with_overrides(shifts(rotation(date(2026, 12, 21)), *CHRISTMAS), overrides))


def test_override_cuts_the_base_shift_in_two() -> None:
    """bob covers 24-27 December inside alice's week: alice's shift is split around it."""
    assert christmas(Override("bob", berlin(2026, 12, 24, 9), berlin(2026, 12, 27, 9))) == [
        ("alice", utc(2026, 12, 21, 8), utc(2026, 12, 24, 8)),
        ("bob", utc(2026, 12, 24, 8), utc(2026, 12, 27, 8)),
        ("alice", utc(2026, 12, 27, 8), utc(2026, 12, 28, 8)),
        ("bob", utc(2026, 12, 28, 8), utc(2027, 1, 4, 8)),
    ]


def test_later_override_wins_where_overrides_overlap() -> None:
    """carol's later override cuts bob's; in the other order bob's hides carol's entirely."""
    bob = Override("bob", berlin(2026, 12, 24, 9), berlin(2026, 12, 27, 9))
    carol = Override("carol", berlin(2026, 12, 25, 9), berlin(2026, 12, 26, 9))
    assert christmas(bob, carol)[:5] == [
        ("alice", utc(2026, 12, 21, 8), utc(2026, 12, 24, 8)),
        ("bob", utc(2026, 12, 24, 8), utc(2026, 12, 25, 8)),
        ("carol", utc(2026, 12, 25, 8), utc(2026, 12, 26, 8)),
        ("bob", utc(2026, 12, 26, 8), utc(2026, 12, 27, 8)),
        ("alice", utc(2026, 12, 27, 8), utc(2026, 12, 28, 8)),
    ]
    assert christmas(carol, bob)[:3] == [
        ("alice", utc(2026, 12, 21, 8), utc(2026, 12, 24, 8)),
        ("bob", utc(2026, 12, 24, 8), utc(2026, 12, 27, 8)),
        ("alice", utc(2026, 12, 27, 8), utc(2026, 12, 28, 8)),
    ]


def test_override_spanning_a_handoff_cuts_both_turns() -> None:
    """carol from Sunday to Tuesday covers the end of alice's week and the start of bob's."""
    assert christmas(Override("carol", berlin(2026, 12, 27, 9), berlin(2026, 12, 29, 9))) == [
        ("alice", utc(2026, 12, 21, 8), utc(2026, 12, 27, 8)),
        ("carol", utc(2026, 12, 27, 8), utc(2026, 12, 29, 8)),
        ("bob", utc(2026, 12, 29, 8), utc(2027, 1, 4, 8)),
    ]


def test_override_next_to_the_same_members_turn_is_merged_and_returned_in_utc() -> None:
    """bob taking the weekend before his own week gives one shift; a New York override comes
    out in UTC."""
    got = with_overrides(shifts(rotation(date(2026, 12, 21)), *CHRISTMAS), [
        Override("bob", datetime(2026, 12, 26, 3, tzinfo=NEW_YORK), berlin(2026, 12, 28, 9)),
    ])
    assert spans(got) == [
        ("alice", utc(2026, 12, 21, 8), utc(2026, 12, 26, 8)),
        ("bob", utc(2026, 12, 26, 8), utc(2027, 1, 4, 8)),
    ]
    assert got[1].start.tzinfo is UTC


def test_no_overrides_leave_the_base_unchanged() -> None:
    """with_overrides of nothing returns the same shifts."""
    base = shifts(rotation(date(2026, 12, 21)), *CHRISTMAS)
    assert with_overrides(base, []) == base


# Secondary


def test_each_weekly_turn_has_the_next_member_as_secondary() -> None:
    """alice's turn has bob, bob's carol, carol's alice: never the primary, the span of each."""
    schedule, window = rotation(date(2026, 1, 5)), (utc(2026, 1, 8), utc(2026, 2, 2, 8))
    base = shifts(schedule, *window)
    assert spans(secondary(schedule, base, *window)) == [
        ("bob", utc(2026, 1, 8), utc(2026, 1, 12, 8)),
        ("carol", utc(2026, 1, 12, 8), utc(2026, 1, 19, 8)),
        ("alice", utc(2026, 1, 19, 8), utc(2026, 1, 26, 8)),
        ("bob", utc(2026, 1, 26, 8), utc(2026, 2, 2, 8)),
    ]


def test_secondary_skips_a_member_listed_twice_in_a_row() -> None:
    """Order alice, bob, alice: the third turn's next entry is alice again, so bob follows."""
    schedule = rotation(date(2026, 1, 5), order=("alice", "bob", "alice"))
    window = (utc(2026, 1, 19, 8), utc(2026, 1, 26, 8))
    assert spans(secondary(schedule, shifts(schedule, *window), *window)) == [
        ("bob", utc(2026, 1, 19, 8), utc(2026, 1, 26, 8)),
    ]


def test_one_member_rotation_has_no_secondary() -> None:
    """alice alone: nobody else to escalate to, so an empty list (not alice again)."""
    schedule, window = rotation(date(2026, 1, 5), order=("alice",)), (utc(2026, 1, 5), utc(2027))
    assert secondary(schedule, shifts(schedule, *window), *window) == []


def test_follow_the_sun_secondary_is_the_next_shift_to_start() -> None:
    """alice's shift has bob, bob's carol, and carol's alice from beyond the window."""
    window = (utc(2026, 6, 1, 4), utc(2026, 6, 2, 4))
    assert spans(secondary(sun(), shifts(sun(), *window), *window)) == [
        ("bob", utc(2026, 6, 1, 4), utc(2026, 6, 1, 12)),
        ("carol", utc(2026, 6, 1, 12), utc(2026, 6, 1, 20)),
        ("alice", utc(2026, 6, 1, 20), utc(2026, 6, 2, 4)),
    ]


def test_secondary_refuses_a_base_with_overrides() -> None:
    """The secondary follows the schedule: an override's piece in `base` is a caller's bug."""
    schedule = rotation(date(2026, 12, 21))
    base = with_overrides(shifts(schedule, *CHRISTMAS),
                          [Override("carol", utc(2026, 12, 24), utc(2026, 12, 25))])
    with pytest.raises(ValueError, match="before overrides"):
        secondary(schedule, base, *CHRISTMAS)


# Coverage problems


def test_clean_rotation_has_no_coverage_problems() -> None:
    """A weekly rotation covers every minute after its start, across both DST changes."""
    window = (utc(2026, 1, 5, 8), utc(2027, 1, 4, 8))
    assert coverage_problems(shifts(rotation(date(2026, 1, 5)), *window), *window) == []


def test_time_before_the_rotation_starts_is_a_gap() -> None:
    """Nobody is on call before turn 0."""
    window = (utc(2026, 1, 1), utc(2026, 1, 12, 8))
    assert coverage_problems(shifts(rotation(date(2026, 1, 5)), *window), *window) == [
        CoverageProblem("gap", utc(2026, 1, 1), utc(2026, 1, 5, 8), ()),
    ]


def test_one_hour_hole_is_one_gap_described_in_local_time_and_utc() -> None:
    """alice stopping at 13:00 instead of 14:00 leaves 11:00-12:00 UTC open each day."""
    window = (utc(2026, 6, 2), utc(2026, 6, 3))
    (gap,) = coverage_problems(shifts(sun(alice_end=time(13, 0)), *window), *window)
    assert gap == CoverageProblem("gap", utc(2026, 6, 2, 11), utc(2026, 6, 2, 12), ())
    assert gap.describe("Europe/Berlin") == (
        "gap from Tue 2026-06-02 13:00 CEST (2026-06-02 11:00 UTC) "
        "to Tue 2026-06-02 14:00 CEST (2026-06-02 12:00 UTC): nobody is on call"
    )


def test_overlap_description_names_both_members() -> None:
    """The overlap after New Zealand's change, read in carol's zone."""
    window = (utc(2026, 9, 26), utc(2026, 9, 27))
    (overlap,) = coverage_problems(shifts(sun(), *window), *window)
    assert overlap.describe("Pacific/Auckland") == (
        "overlap from Sun 2026-09-27 08:00 NZDT (2026-09-26 19:00 UTC) "
        "to Sun 2026-09-27 09:00 NZDT (2026-09-26 20:00 UTC): bob and carol are both on call"
    )


def test_description_of_three_members_and_of_seconds() -> None:
    """Three members read as a list; a span off the minute shows its seconds."""
    problem = CoverageProblem("overlap", utc(2026, 1, 5, 8, 0, 30), utc(2026, 1, 5, 9),
                              ("alice", "bob", "carol"))
    assert problem.describe("UTC") == (
        "overlap from Mon 2026-01-05 08:00:30 UTC (2026-01-05 08:00:30 UTC) "
        "to Mon 2026-01-05 09:00 UTC (2026-01-05 09:00 UTC): alice, bob and carol are all on call"
    )


def test_overlap_is_merged_across_a_members_own_handoff() -> None:
    """alice's two back-to-back shifts both under bob's give one overlap, not two."""
    got = coverage_problems([
        Shift("alice", utc(2026, 1, 1, 0), utc(2026, 1, 1, 10)),
        Shift("alice", utc(2026, 1, 1, 10), utc(2026, 1, 1, 20)),
        Shift("bob", utc(2026, 1, 1, 5), utc(2026, 1, 1, 15)),
    ], utc(2026, 1, 1, 0), utc(2026, 1, 1, 20))
    assert got == [CoverageProblem("overlap", utc(2026, 1, 1, 5), utc(2026, 1, 1, 15),
                                   ("alice", "bob"))]


def test_overlaps_with_different_members_stay_apart_and_self_overlap_is_no_problem() -> None:
    """A span is one problem only while the same people overlap; alice twice is alice once."""
    got = coverage_problems([
        Shift("alice", utc(2026, 1, 1, 0), utc(2026, 1, 1, 10)),
        Shift("alice", utc(2026, 1, 1, 2), utc(2026, 1, 1, 4)),
        Shift("bob", utc(2026, 1, 1, 5), utc(2026, 1, 1, 10)),
        Shift("carol", utc(2026, 1, 1, 8), utc(2026, 1, 1, 10)),
    ], utc(2026, 1, 1, 0), utc(2026, 1, 1, 10))
    assert got == [
        CoverageProblem("overlap", utc(2026, 1, 1, 5), utc(2026, 1, 1, 8), ("alice", "bob")),
        CoverageProblem("overlap", utc(2026, 1, 1, 8), utc(2026, 1, 1, 10),
                        ("alice", "bob", "carol")),
    ]


def test_empty_window_and_empty_list() -> None:
    """No window, no problems; an empty list over a window is one gap."""
    assert coverage_problems([], utc(2026, 1, 1), utc(2026, 1, 1)) == []
    assert coverage_problems([], utc(2026, 1, 1), utc(2026, 1, 2)) == [
        CoverageProblem("gap", utc(2026, 1, 1), utc(2026, 1, 2), ()),
    ]


# Who is on call


def test_on_call_at_a_handoff_is_the_incoming_member() -> None:
    """Shifts are [start, end): 09:00 Berlin on hand-off Monday is bob, a second before alice."""
    got = shifts(rotation(date(2026, 1, 5)), utc(2026, 1, 1), utc(2026, 2, 1))
    assert on_call(got, berlin(2026, 1, 12, 9)) == "bob"
    assert on_call(got, utc(2026, 1, 12, 7, 59, 59)) == "alice"
    assert on_call(got, utc(2026, 1, 4)) is None


def test_on_call_during_an_overlap_is_whoever_started_last() -> None:
    """Where shifts overlap, the newer one answers."""
    got = [Shift("alice", utc(2026, 1, 1, 0), utc(2026, 1, 1, 10)),
           Shift("bob", utc(2026, 1, 1, 5), utc(2026, 1, 1, 15))]
    assert on_call(got, utc(2026, 1, 1, 7)) == "bob"


def test_on_call_follows_overrides() -> None:
    """The caller asks the overridden list: bob on Christmas Day, alice the day before."""
    got = with_overrides(shifts(rotation(date(2026, 12, 21)), *CHRISTMAS),
                         [Override("bob", berlin(2026, 12, 24, 9), berlin(2026, 12, 27, 9))])
    assert on_call(got, berlin(2026, 12, 25, 12)) == "bob"
    assert on_call(got, berlin(2026, 12, 24, 8, 59)) == "alice"


# Bad input


@pytest.mark.parametrize(("build", "fragment"), [
    (lambda: WeeklyRotation((), "Europe/Berlin", time(9), date(2026, 1, 5)), "at least one member"),
    (lambda: WeeklyRotation(("a",), "Europe/Berlin", time(9), date(2026, 1, 5), days=0),
     "at least one day"),
    (lambda: WeeklyRotation(("a",), "Mars/Olympus", time(9), date(2026, 1, 5)),
     "unknown time zone"),
    (lambda: DailyShift("a", "Europe/Berlin", time(8), time(16), (7,)), "weekdays run from 0"),
    (lambda: DailyShift("a", "Berlin", time(8), time(16)), "unknown time zone"),
    (lambda: Override("a", utc(2026, 1, 2), utc(2026, 1, 1)), "ends before it starts"),
    (lambda: Override("a", datetime(2026, 1, 1), datetime(2026, 1, 2)), "no time zone"),
    (lambda: shifts(rotation(date(2026, 1, 5)), datetime(2026, 1, 1), utc(2026, 2, 1)),
     "no time zone"),
    (lambda: on_call([], datetime(2026, 1, 1)), "no time zone"),
])
def test_bad_input_is_a_value_error(build: Callable[[], object], fragment: str) -> None:
    """Bad schedules fail when built, naive datetimes when passed, with a message to act on."""
    with pytest.raises(ValueError, match=fragment):
        build()
