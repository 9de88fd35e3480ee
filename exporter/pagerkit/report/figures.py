"""The on-call health figures, from the firings, the acknowledgements and the schedule.

Pure: nothing is read here, time is what the history says. A *page* is a first-tier
firing of a critical alert that began in the window; it *escalated* when a later tier began
firing before anyone acknowledged it (the rules go on firing every tier under a silence,
so a tier that began after the acknowledgement paged nobody); it is *noise* when it went
away by itself, unacknowledged, within ``Settings.noise``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ..bundle.alerts import Alert
from ..oncall.routing import Team
from ..oncall.who import primary, who
from .data import Ack, Firing, History, Labels

WEEK = 7 * 86400.0
MOST_OF_THE_WINDOW = 0.5


@dataclass(frozen=True)
class Settings:
    noise: float = 300.0
    """A page that went away by itself within this many seconds is noise."""
    night_start: dt.time = dt.time(22, 0)
    night_end: dt.time = dt.time(7, 0)
    """A member's night, in their own time zone (daylight saving included)."""


@dataclass(frozen=True)
class Page:
    alertname: str
    team: str
    labels: Labels
    """The tier-1 series' labels, without alertstate and tier."""
    start: float
    seconds: float
    ongoing: bool
    ack_seconds: float | None
    """From the page to the acknowledgement; None when nobody acknowledged it."""
    acked_by: str | None
    tier: int
    """The last tier that paged: the highest one that began before the acknowledgement."""
    member: str | None
    """Who was on call (primary) when it paged."""
    local_hour: int | None
    night: str | None
    """The member's night it woke them in (the local date it began on), or None by day."""
    noise: bool


@dataclass(frozen=True)
class AlertFigures:
    alertname: str
    team: str
    severity: str
    for_seconds: float | None
    firings: int
    pages: int
    firing_seconds: float
    firing_share: float
    median_seconds: float | None
    p95_seconds: float | None
    noise: int
    escalated: int
    acknowledged: int
    median_ack_seconds: float | None
    suggested_for_seconds: float | None
    quieted: int
    """How many of the noisy pages the suggested ``for`` would have kept quiet."""
    suggestion: str
    """Why there is a suggestion or why there is none; empty when the alert is not noisy."""


@dataclass(frozen=True)
class MemberFigures:
    team: str
    name: str
    timezone: str
    on_call_seconds: float
    pages: int
    night_pages: int
    nights_interrupted: int
    pages_per_week: float | None
    """Pages per week on call; None when the member was not on call."""


@dataclass(frozen=True)
class TeamFigures:
    name: str
    pages: int
    median_ack_seconds: float | None
    spread: float | None
    """The busiest member's pages per week on call over the team's: 1.0 is even, 2.0 means
    one member got twice their share. None without pages."""
    night_spread: float | None


@dataclass(frozen=True)
class Figures:
    since: float
    until: float
    interval: float
    settings: Settings
    alerts: tuple[AlertFigures, ...]
    members: tuple[MemberFigures, ...]
    teams: tuple[TeamFigures, ...]
    pages: tuple[Page, ...]
    spans: tuple[tuple[str, str, float, float], ...]
    """(alertname, severity, start, end) of every first-tier or untiered firing."""
    chronic_warnings: tuple[str, ...]
    never_fired: tuple[str, ...]
    acks_available: bool
    notes: tuple[str, ...]


def figures(history: History, alerts: Sequence[Alert], teams: Sequence[Team],
            settings: Settings = Settings()) -> Figures:
    by_team = {t.name: t for t in teams}
    head = [f for f in history.firings if f.label("tier") in ("", "1")]
    later = later_tiers(history.firings)
    acks = acks_by_alertname(history.acks or ())
    pages = [page_of(f, acks, later, by_team.get(f.label("team")), settings)
             for f in head if f.label("severity") == "critical" and not f.before]
    team_ack = {name: _median([p.ack_seconds for p in pages if p.team == name])
                for name in by_team}
    spec = {a.name: a for a in alerts}
    names = sorted({f.label("alertname") for f in head} | {a.name for a in alerts
                                                           if a.severity != "info"})
    window = history.until - history.since
    firings_of: dict[str, list[Firing]] = defaultdict(list)
    for firing in head:
        firings_of[firing.label("alertname")].append(firing)
    pages_of: dict[str, list[Page]] = defaultdict(list)
    for page in pages:
        pages_of[page.alertname].append(page)
    rows = [alert_figures(name, spec.get(name), firings_of[name], pages_of[name], window,
                          team_ack, settings)
            for name in names]
    members = [m for t in teams for m in member_figures(t, pages, history, settings)]
    return Figures(
        history.since, history.until, history.interval, settings, tuple(rows), tuple(members),
        tuple(team_figures(t, pages, members, team_ack.get(t.name)) for t in teams),
        tuple(pages), tuple((f.label("alertname"), f.label("severity"), f.start, f.end)
                            for f in head),
        tuple(r.alertname for r in rows
              if r.severity == "warning" and r.firing_share >= MOST_OF_THE_WINDOW),
        tuple(r.alertname for r in rows if r.firing_seconds == 0 and r.alertname in spec),
        history.acks is not None, history.notes)


def later_tiers(firings: Iterable[Firing]) -> dict[Labels, list[tuple[float, int]]]:
    """(start, tier) of every firing of tier 2 and above, by its labels without tier."""
    out: dict[Labels, list[tuple[float, int]]] = defaultdict(list)
    for firing in firings:
        tier = firing.label("tier")
        if tier not in ("", "1"):
            out[without_tier(firing.labels)].append((firing.start, int(tier)))
    return out


def without_tier(labels: Labels) -> Labels:
    return tuple((k, v) for k, v in labels if k != "tier")


def acks_by_alertname(acks: Iterable[Ack]) -> dict[str | None, list[Ack]]:
    """Acknowledgements by the alertname they name (None: no single one), in time order,
    so that a page is compared only with those that can match it."""
    out: dict[str | None, list[Ack]] = defaultdict(list)
    for ack in acks:
        names = [m.value for m in ack.matchers
                 if m.name == "alertname" and m.equal and not m.regex]
        out[names[0] if names else None].append(ack)
    return out


def page_of(first: Firing, acks: Mapping[str | None, list[Ack]],
            later: Mapping[Labels, list[tuple[float, int]]], team: Team | None,
            settings: Settings) -> Page:
    labels = without_tier(first.labels)
    candidates = sorted([*acks.get(first.label("alertname"), []), *acks.get(None, [])],
                        key=lambda a: a.at)
    ack = first_ack(candidates, dict(first.labels), first.start, first.end)
    ack_seconds = None if ack is None else max(0.0, ack.at - first.start)
    member = who(team, _utc(first.start))[0] if team is not None else None
    local = _utc(first.start).astimezone(ZoneInfo(team.member(member).timezone)) \
        if team is not None and member is not None else None
    return Page(first.label("alertname"), first.label("team"), labels, first.start,
                first.seconds, first.ongoing, ack_seconds, ack.member if ack else None,
                tier_reached(first, later.get(labels, []), ack), member,
                local.hour if local else None, night_of(local, settings) if local else None,
                ack is None and not first.ongoing and first.seconds <= settings.noise)


def first_ack(acks: Iterable[Ack], labels: dict[str, str], start: float,
              end: float) -> Ack | None:
    """The acknowledgement of a firing: the first matching one made while it fired, or one
    already in force when it began (which kept it from paging at all)."""
    for ack in acks:
        if ack.matches(labels) and (start <= ack.at <= end or ack.at <= start < ack.ends):
            return ack
    return None


def tier_reached(first: Firing, later: Iterable[tuple[float, int]], ack: Ack | None) -> int:
    """The highest tier of the same series that began firing during this firing and before
    the acknowledgement: the last one that paged somebody."""
    stop = first.end if ack is None else ack.at
    return max((tier for start, tier in later if first.start <= start < stop), default=1)


def night_of(local: dt.datetime, settings: Settings) -> str | None:
    """The local date the night began on, if ``local`` falls in the member's night."""
    start, end, clock = settings.night_start, settings.night_end, local.time()
    if start > end:  # the night spans midnight
        if clock >= start:
            return local.date().isoformat()
        return (local.date() - dt.timedelta(days=1)).isoformat() if clock < end else None
    return local.date().isoformat() if start <= clock < end else None


def alert_figures(name: str, alert: Alert | None, firings: Sequence[Firing],
                  pages: Sequence[Page], window: float, team_ack: dict[str, float | None],
                  settings: Settings) -> AlertFigures:
    severity = alert.severity if alert else (firings[0].label("severity") if firings else "")
    team = alert.team if alert else (firings[0].label("team") if firings else "")
    fresh = [f for f in firings if not f.before]
    done = [f.seconds for f in fresh if not f.ongoing]
    firing_seconds = union_seconds((f.start, f.end) for f in firings)
    acked = [p.ack_seconds for p in pages if p.ack_seconds is not None]
    suggested, quieted, why = suggest_for(alert.for_seconds if alert else None, pages,
                                          team_ack.get(team))
    return AlertFigures(
        name, team, severity, alert.for_seconds if alert else None, len(fresh), len(pages),
        firing_seconds, firing_seconds / window if window > 0 else 0.0, _median(done),
        nearest_rank(done, 0.95), sum(p.noise for p in pages), sum(p.tier > 1 for p in pages),
        len(acked), _median(acked), suggested, quieted, why)


def suggest_for(current: float | None, pages: Sequence[Page],
                team_ack: float | None) -> tuple[float | None, int, str]:
    """The ``for`` that keeps the noisy pages quiet while every page that lasted longer than
    the team's median time to acknowledge still pages.

    With ``for`` lengthened by x, a firing that lasted d still fires when d > x (the
    condition held for the old ``for`` plus d). So x is the longest noisy firing, except that
    one longer than the median time to acknowledge must keep paging: x stops below it."""
    noisy = sorted(p.seconds for p in pages if p.noise)
    if not noisy:
        return None, 0, ""
    if team_ack is None:
        return None, 0, "no acknowledged page in the window to measure against"
    quiet = [d for d in noisy if d <= team_ack]
    if not quiet:
        return None, 0, (f"its short firings lasted longer than the team's median time to "
                         f"acknowledge ({team_ack:.0f}s): fix the cause instead")
    extra = quiet[-1]
    return (current or 0.0) + extra, len(quiet), (
        f"+{extra:.0f}s keeps {len(quiet)} of {len(noisy)} short firings quiet; every page "
        f"that lasted over {team_ack:.0f}s (the team's median time to acknowledge) still pages")


def member_figures(team: Team, pages: Sequence[Page], history: History,
                   settings: Settings) -> list[MemberFigures]:
    hours: dict[str, float] = defaultdict(float)
    for shift in primary(team):
        start = max(shift.start.timestamp(), history.since)
        end = min(shift.end.timestamp(), history.until)
        if end > start:
            hours[shift.member] += end - start
    out = []
    for member in team.members:
        own = [p for p in pages if p.team == team.name and p.member == member.name]
        nights = [p.night for p in own if p.night is not None]
        seconds = hours.get(member.name, 0.0)
        out.append(MemberFigures(team.name, member.name, member.timezone, seconds, len(own),
                                 len(nights), len(set(nights)),
                                 len(own) / (seconds / WEEK) if seconds else None))
    return out


def team_figures(team: Team, pages: Sequence[Page], members: Sequence[MemberFigures],
                 median_ack: float | None) -> TeamFigures:
    own = [m for m in members if m.team == team.name]
    return TeamFigures(team.name, sum(m.pages for m in own), median_ack,
                       spread(own, lambda m: m.pages), spread(own, lambda m: m.night_pages))


def spread(members: Sequence[MemberFigures],
           count: Callable[[MemberFigures], int]) -> float | None:
    """The busiest member's rate per week on call over the team's rate."""
    on_call = [m for m in members if m.on_call_seconds > 0]
    total = sum(count(m) for m in on_call)
    weeks = sum(m.on_call_seconds for m in on_call) / WEEK
    if not total or not weeks:
        return None
    return float(max(count(m) / (m.on_call_seconds / WEEK) for m in on_call) / (total / weeks))


def union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by nearest rank: a value that was measured, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)

