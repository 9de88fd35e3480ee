"""Who is on call: shifts from the routing spec, checked, and shown as a calendar.

``pagerkit oncall who`` and the Alertmanager config come from these same functions.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from ..errors import UserError
from . import schedule as sch
from .routing import RoutingSpec, Team


@cache
def primary(team: Team) -> tuple[sch.Shift, ...]:
    """The primary's shifts over the team's period, overrides applied."""
    base = sch.shifts(team.schedule, team.start, team.end)
    return tuple(sch.with_overrides(base, team.overrides))


@cache
def secondary(team: Team) -> tuple[sch.Shift, ...]:
    base = sch.shifts(team.schedule, team.start, team.end)
    return tuple(sch.secondary(team.schedule, base, team.start, team.end))


def check_coverage(spec: RoutingSpec) -> None:
    """Refuse a schedule with a minute nobody covers, or covered twice, naming the span in
    the team's local time and in UTC."""
    for team in spec.teams:
        problems = sch.coverage_problems(list(primary(team)), team.start, team.end)
        if problems:
            lines = "; ".join(p.describe(team.timezone) for p in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise spec.doc.error((*team.key, "schedule"),
                                 f"team {team.name}: {lines}{more}; fix the shifts or add an "
                                 "override")


def who(team: Team, at: dt.datetime) -> tuple[str | None, str | None]:
    """(primary, secondary) at ``at``."""
    return sch.on_call(list(primary(team)), at), sch.on_call(list(secondary(team)), at)


def calendar(team: Team) -> bytes:
    """The primary shifts as iCalendar, one event per shift, for people's calendars."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//pagerkit//on-call//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{team.name} on call")
    for shift in primary(team):
        event = Event()
        event.add("uid", f"{team.name}-{shift.member}-{shift.start:%Y%m%dT%H%M%SZ}@pagerkit")
        event.add("summary", f"{shift.member} on call ({team.name})")
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("dtstamp", team.start)  # reproducible: the schedule, not the clock
        cal.add_component(event)
    return bytes(cal.to_ical())


def team_or_error(spec: RoutingSpec, name: str | None) -> list[Team]:
    if name is None:
        return list(spec.teams)
    team = spec.team(name)
    if team is None:
        raise UserError(str(spec.doc.path), None, f"no team {name}; the teams are "
                                                  f"{', '.join(t.name for t in spec.teams)}")
    return [team]
