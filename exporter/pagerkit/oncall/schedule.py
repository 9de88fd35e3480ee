"""On-call schedules turned into concrete shifts in UTC.

Pure: only the time-zone database is read. Alertmanager ``time_intervals`` and the "who is on
call" answer both come from these functions, so the two cannot disagree. Wall times are read
with ``zoneinfo`` in the schedule's own zone (rules in `shifts`); the rules keep wall time ->
UTC non-decreasing, so a shift is never negative, and one that collapses to nothing (02:00 to
03:00 on a spring-forward night) is dropped.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Shift:
    """`member` is on call for [start, end): aware UTC datetimes, end exclusive."""

    member: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class WeeklyRotation:
    """Members take turns, `days` days each (7 = a week), handing over at `handoff` local
    time in `timezone`; the first turn (order[0]) starts at `start` (a local date whose
    handoff time begins turn 0). Nobody is on call before that. Raises ValueError for an empty
    order, `days` < 1 or an unknown zone."""

    order: tuple[str, ...]
    timezone: str
    handoff: time
    start: date
    days: int = 7

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if not self.order:
            raise ValueError("a rotation needs at least one member in its order")
        if self.days < 1:
            raise ValueError(f"a turn lasts at least one day, not {self.days}")


@dataclass(frozen=True)
class DailyShift:
    """Follow-the-sun: `member` covers local [start, end) on the given weekdays (0=Monday)
    in its own time zone; end may be <= start, meaning the shift ends the next local day
    (start == end is a 24-hour shift). A weekday names the local date the shift starts on.
    Raises ValueError for an unknown zone or a weekday outside 0-6."""

    member: str
    timezone: str
    start: time
    end: time
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if any(day not in range(7) for day in self.weekdays):
            raise ValueError(f"weekdays run from 0 (Monday) to 6, not {self.weekdays}")


@dataclass(frozen=True)
class FollowTheSun:
    """Daily shifts in several zones; nothing checks here that they tile the day: ask
    `coverage_problems`, since a tiling can break when only one hemisphere changes clocks."""

    shifts: tuple[DailyShift, ...]


@dataclass(frozen=True)
class Override:
    """`member` covers [start, end) instead of whoever the schedule says. Raises ValueError
    for naive datetimes or an empty span."""

    member: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if _utc(self.start) >= _utc(self.end):
            raise ValueError(f"override for {self.member} ends before it starts")


Schedule = WeeklyRotation | FollowTheSun


@dataclass(frozen=True)
class CoverageProblem:
    """A maximal span (UTC) where nobody is on call ("gap") or where the same set of two or
    more different members is ("overlap")."""

    kind: str
    start: datetime
    end: datetime
    members: tuple[str, ...]

    def describe(self, timezone: str) -> str:
        """One sentence naming the span in `timezone` (with its abbreviation) and in UTC."""
        zone = _zone(timezone)
        span = f"{self.kind} from {_stamp(self.start, zone)} to {_stamp(self.end, zone)}"
        return f"{span}: {_who(self.members)}"


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The schedule's shifts clipped to [start, end), sorted by start (aware datetimes in,
    else ValueError; UTC out). Each turn or daily occurrence is its own Shift, even when the
    same member follows on. Wall times are local to the schedule's zone:

    - a 09:00 hand-off stays 09:00 local across daylight-saving changes, so the shift spanning
      one is an hour shorter or longer (167 h or 169 h for a week);
    - a wall time skipped when clocks spring forward moves forward to the first valid instant,
      the jump itself: 02:30 on a 02:00 -> 03:00 night is 03:00 (not 03:30);
    - a wall time repeated when clocks fall back is its first occurrence (fold=0): the hour
      that repeats belongs to whoever was on call at its first pass.
    """
    start, end = _utc(start), _utc(end)
    return [_clipped(turn, start, end) for turn in _turns(schedule, start, end)]


def with_overrides(base: list[Shift], overrides: Sequence[Override]) -> list[Shift]:
    """Overrides replace the base shifts where they apply (cutting them), in order: a later
    override wins over an earlier one. Pieces of the same member that touch or overlap are
    merged; the result is sorted by start, in UTC. Overrides are applied whole, not clipped
    to the window `base` was built for: pass only those you want in it."""
    pieces = list(base)
    for override in overrides:
        start, end = _utc(override.start), _utc(override.end)
        pieces = [*_cut(pieces, start, end), Shift(override.member, start, end)]
    return _merged(pieces)


def secondary(
    schedule: Schedule, base: list[Shift], start: datetime, end: datetime
) -> list[Shift]:
    """Who is second on call, one Shift over the span of each primary shift in `base`, which
    must be `shifts(schedule, start, end)` (before overrides, else ValueError): the secondary
    follows the schedule, never the overrides. For a WeeklyRotation it is the next member in
    `order` after the turn's primary (so every turn has a different secondary); for
    FollowTheSun, the member of the next shift to start. Either way it is the next *other*
    member: a one-member schedule has no secondary and gives an empty list."""
    start, end = _utc(start), _utc(end)
    turns = _turns(schedule, start, end + _lookahead(schedule))
    result = []
    for primary in base:
        member = _next_member(turns, primary)
        if member is not None:
            result.append(Shift(member, primary.start, primary.end))
    return sorted(result, key=_by_start)


def coverage_problems(
    shift_list: list[Shift], start: datetime, end: datetime
) -> list[CoverageProblem]:
    """Every gap (a span, however short, that nobody covers) and every overlap (covered by two
    or more different members) in [start, end), merged into maximal spans with the same
    members, sorted. A member whose own shifts overlap is not double coverage."""
    start, end = _utc(start), _utc(end)
    problems: list[CoverageProblem] = []
    for here, after, members in _segments(shift_list, start, end):
        if len(members) == 1:
            continue
        kind = "gap" if not members else "overlap"
        last = problems[-1] if problems else None
        if last and last.end == here and last.members == members:
            problems[-1] = CoverageProblem(kind, last.start, after, members)
        else:
            problems.append(CoverageProblem(kind, here, after, members))
    return problems


def on_call(shift_list: list[Shift], at: datetime) -> str | None:
    """The member whose shift holds `at` (start inclusive, end exclusive, so at a hand-off the
    incoming member), or None. Where shifts overlap, the one that started last."""
    at = _utc(at)
    holding = [shift for shift in shift_list if shift.start <= at < shift.end]
    return max(holding, key=lambda shift: shift.start).member if holding else None


def _zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError, not KeyError, when the database lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name") from error


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; refuses naive datetimes, which astimezone would read as host time."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def local_to_utc(day: date, wall: time, timezone: str) -> datetime:
    """Local `day` at `wall` in `timezone` as UTC, by the same rules as the shifts: for
    callers that turn a spec's local times (overrides, first hand-off) into instants."""
    return _to_utc(day, wall, _zone(timezone))


def _to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """Local `day` at `wall` in `zone` as a UTC instant: a skipped wall time becomes the
    moment clocks jumped, a repeated one its first occurrence (fold=0)."""
    local = datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap, fold=1 reads the wall time with the offset after the jump, giving an instant
    # before it; fold=0 (instant) uses the offset before, giving one after it.
    return _jump(local.replace(fold=1).astimezone(UTC), instant, zone)


def _jump(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (before, after] with `after`'s UTC offset, to the microsecond:
    zoneinfo does not expose its transitions, so bisect (about 32 steps for an hour)."""
    offset = after.astimezone(zone).utcoffset()
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return after


def _turns(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The schedule's whole (unclipped) shifts that overlap [start, end), sorted."""
    if isinstance(schedule, WeeklyRotation):
        return _rotation_turns(schedule, start, end)
    turns = [turn for daily in schedule.shifts for turn in _daily_turns(daily, start, end)]
    return sorted(turns, key=_by_start)


def _rotation_turns(rotation: WeeklyRotation, start: datetime, end: datetime) -> list[Shift]:
    """Turns of `rotation` overlapping [start, end); turn k belongs to order[k % len(order)]."""
    zone = _zone(rotation.timezone)

    def begins(k: int) -> datetime:
        return _to_utc(rotation.start + timedelta(days=k * rotation.days), rotation.handoff, zone)

    # One turn early: `start` may fall before the hand-off on its local date.
    k = max(0, (start.astimezone(zone).date() - rotation.start).days // rotation.days - 1)
    while begins(k + 1) <= start:
        k += 1
    turns, begin = [], begins(k)
    while begin < end:
        following = begins(k + 1)
        turns.append(Shift(rotation.order[k % len(rotation.order)], begin, following))
        k, begin = k + 1, following
    return turns


def _daily_turns(daily: DailyShift, start: datetime, end: datetime) -> list[Shift]:
    """Occurrences of `daily` overlapping [start, end), skipping any that collapse to nothing."""
    zone = _zone(daily.timezone)
    first = start.astimezone(zone).date() - timedelta(days=1)  # an overnight shift from before
    overnight = timedelta(days=1 if daily.end <= daily.start else 0)
    turns = []
    for n in range((end.astimezone(zone).date() - first).days + 1):
        day = first + timedelta(days=n)
        if day.weekday() not in daily.weekdays:
            continue
        turn = Shift(daily.member, _to_utc(day, daily.start, zone),
                     _to_utc(day + overnight, daily.end, zone))
        if turn.start < turn.end and turn.start < end and turn.end > start:
            turns.append(turn)
    return turns


def _clipped(shift: Shift, start: datetime, end: datetime) -> Shift:
    """`shift` cut to [start, end); the caller knows the two overlap."""
    return Shift(shift.member, max(shift.start, start), min(shift.end, end))


def _by_start(shift: Shift) -> tuple[datetime, datetime, str]:
    return shift.start, shift.end, shift.member


def _cut(pieces: list[Shift], start: datetime, end: datetime) -> list[Shift]:
    """`pieces` with [start, end) taken out: a piece spanning it splits in two."""
    kept = []
    for piece in pieces:  # a piece wholly before or after [start, end) is kept whole
        if piece.start < start:
            kept.append(Shift(piece.member, piece.start, min(piece.end, start)))
        if piece.end > end:
            kept.append(Shift(piece.member, max(piece.start, end), piece.end))
    return kept


def _merged(pieces: list[Shift]) -> list[Shift]:
    """Pieces of one member that touch or overlap joined into one, sorted by start."""
    joined: list[Shift] = []
    for piece in sorted(pieces, key=lambda shift: (shift.member, shift.start)):
        last = joined[-1] if joined else None
        if last and last.member == piece.member and piece.start <= last.end:
            joined[-1] = Shift(piece.member, last.start, max(last.end, piece.end))
        else:
            joined.append(piece)
    return sorted(joined, key=_by_start)


def _lookahead(schedule: Schedule) -> timedelta:
    """How far past the window the next other member surely starts: one full cycle."""
    if isinstance(schedule, WeeklyRotation):
        return timedelta(days=schedule.days * len(schedule.order) + 1)
    return timedelta(days=8)


def _next_member(turns: list[Shift], primary: Shift) -> str | None:
    """Someone other than `primary`'s member, from the first turn to start after the turn
    `primary` (maybe clipped) is part of; ValueError if it is part of none."""
    for i in range(bisect_right(turns, primary.start, key=lambda turn: turn.start) - 1, -1, -1):
        own = turns[i]
        if own.member == primary.member and own.start <= primary.start < own.end:
            later = (t.member for t in turns[i + 1:] if t.start > own.start)
            return next((member for member in later if member != own.member), None)
    raise ValueError(f"{primary.member} from {primary.start} is not a shift of the schedule: "
                     "pass shifts(schedule, start, end) before overrides")


def _segments(shift_list: list[Shift], start: datetime, end: datetime,
              ) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
    """[start, end) cut wherever someone comes or goes: (from, to, sorted distinct members)."""
    changes: dict[datetime, Counter[str]] = {start: Counter(), end: Counter()}
    for shift in shift_list:
        if shift.start < end and shift.end > start:
            piece = _clipped(shift, start, end)
            changes.setdefault(piece.start, Counter())[piece.member] += 1
            changes.setdefault(piece.end, Counter())[piece.member] -= 1
    active: Counter[str] = Counter()
    moments = sorted(changes)
    segments = []
    for here, after in pairwise(moments):
        active.update(changes[here])
        segments.append((here, after, tuple(sorted(m for m, n in active.items() if n > 0))))
    return segments


def _stamp(moment: datetime, zone: ZoneInfo) -> str:
    """'Sun 2026-03-29 03:00 CEST (2026-03-29 01:00 UTC)'; seconds only when not zero."""
    local = moment.astimezone(zone)
    clock = "%H:%M:%S" if moment.second or moment.microsecond else "%H:%M"
    utc = moment.astimezone(UTC)
    return (f"{_DAY_NAMES[local.weekday()]} {local.strftime(f'%Y-%m-%d {clock} %Z')} "
            f"({utc.strftime(f'%Y-%m-%d {clock}')} UTC)")


def _who(members: tuple[str, ...]) -> str:
    """'nobody is on call', 'alice and bob are both on call', 'a, b and c are all on call'."""
    if not members:
        return "nobody is on call"
    if len(members) == 2:
        return f"{members[0]} and {members[1]} are both on call"
    return f"{', '.join(members[:-1])} and {members[-1]} are all on call"
