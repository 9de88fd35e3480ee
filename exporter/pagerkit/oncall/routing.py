"""The routing spec (``alertmanager/routing.yaml``): teams, members, schedules, escalation.

The same objects generate Alertmanager's routes and answer ``pagerkit oncall who``, so
the page goes to the person the command names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..durations import parse_duration
from ..validation import dotted, validate
from ..yamlfile import YamlDocument, load_yaml
from . import schedule as sch

ROUTING_PATH = Path("alertmanager/routing.yaml")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_HORIZON = 8 * 7 * 86400.0
DEFAULT_PROVIDERS = {"push": ("pushover",), "sms": ("twilio",), "voice": ("twilio",)}
"""The relay's providers per channel when the spec names none: one each, no failover."""
SLACK_HOSTS = ("hooks.slack.com",)
TOKEN_HOSTS = (*SLACK_HOSTS, "discord.com", "discordapp.com", "outlook.office.com",
               "webhook.office.com", "chat.googleapis.com", "api.telegram.org",
               "hooks.zapier.com")
"""Chat services whose webhook URL is itself the credential."""
TOKEN_SEGMENT = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_-]{16,}$")
"""A path segment that looks like a token (Mattermost's and Rocket.Chat's hook ids)."""


@dataclass(frozen=True)
class Tier:
    number: int
    delay: float
    target: str
    """primary, secondary (the next in the rotation) or team."""
    channel: str


DEFAULT_ESCALATION = (Tier(1, 0.0, "primary", "push"), Tier(2, 600.0, "primary", "sms"),
                      Tier(3, 1200.0, "primary", "voice"), Tier(4, 1800.0, "secondary", "voice"))


@dataclass(frozen=True)
class Member:
    name: str
    timezone: str
    channels: tuple[str, ...]
    pushover: tuple[tuple[str, str], ...] = ()
    """user_key_file and token_file, to push from Alertmanager itself (0.26+)."""


@dataclass(frozen=True)
class WorkingHours:
    weekdays: tuple[str, ...]
    start: str
    end: str


@dataclass(frozen=True)
class Team:
    name: str
    timezone: str
    members: tuple[Member, ...]
    schedule: sch.Schedule
    overrides: tuple[sch.Override, ...]
    escalation: tuple[Tier, ...]
    working_hours: WorkingHours | None
    chat: tuple[tuple[str, str], ...]
    paging_service: tuple[tuple[str, str], ...]
    key: tuple[str | int, ...]
    start: dt.datetime
    end: dt.datetime
    """The period the generated schedule covers, UTC, [start, end): from the first
    hand-off for ``horizon``. Past ``end`` nobody is paged: extend it in time."""

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)


@dataclass(frozen=True)
class RoutingSpec:
    doc: YamlDocument
    alertmanager_version: str
    relay_url: str
    timing: dict[str, str]
    relay_auth: tuple[str, str] | None
    """(username, password_file) Alertmanager's webhooks to the relay carry."""
    teams: tuple[Team, ...]
    providers: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_PROVIDERS))
    """Per channel, the providers the relay tries in order (``providers`` in the spec)."""

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)


def load_routing(root: Path) -> RoutingSpec:
    return load_routing_file(root / ROUTING_PATH, str(ROUTING_PATH))


def load_routing_file(path: Path, name: str | None = None) -> RoutingSpec:
    doc = load_yaml(path, name)
    validate(doc, "routing.schema.json", doc.data)
    raw = doc.data
    horizon = parse_duration(raw["horizon"]) if "horizon" in raw else DEFAULT_HORIZON
    teams = tuple(_team(doc, ("teams", i), t, horizon) for i, t in enumerate(raw["teams"]))
    names = [t.name for t in teams]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise doc.error(("teams", i, "name"), f"team {name} is defined twice")
    version = raw.get("alertmanager_version", "0.25")
    for team in teams:
        for i, member in enumerate(team.members):
            if member.pushover and version < "0.26":
                raise doc.error((*team.key, "members", i, "pushover"),
                                f"Alertmanager {version} has no user_key_file or token_file "
                                "for Pushover, so the keys would be written into the "
                                "generated file: push through the relay (remove pushover) or "
                                'set alertmanager_version: "0.26"')
    auth = raw.get("relay_auth")
    return RoutingSpec(doc, version, raw["relay_url"], dict(raw.get("timing", {})),
                       (auth["username"], auth["password_file"]) if auth else None, teams,
                       {**DEFAULT_PROVIDERS, **{channel: tuple(order) for channel, order
                                                in raw.get("providers", {}).items()}})


def _team(doc: YamlDocument, key: tuple[str | int, ...], raw: dict[str, Any],
          horizon: float) -> Team:
    tz = _zone(doc, (*key, "timezone"), raw["timezone"])
    members = tuple(Member(m["name"], _zone(doc, (*key, "members", i, "timezone"),
                                            m["timezone"]), tuple(m["channels"]),
                           tuple(sorted(m.get("pushover", {}).items())))
                    for i, m in enumerate(raw["members"]))
    known = {m.name for m in members}

    def member_ref(at: tuple[str | int, ...], name: str) -> str:
        if name not in known:
            raise doc.error(at, f"{dotted(at)}: {name} is not a member of team "
                                f"{raw['name']}; the members are {', '.join(sorted(known))}")
        return name

    schedule = _schedule(doc, (*key, "schedule"), raw["schedule"], tz, member_ref, members)
    overrides = tuple(_override(doc, (*key, "overrides", i), o, tz, member_ref)
                      for i, o in enumerate(raw.get("overrides", [])))
    escalation = _escalation(doc, key, raw.get("escalation"), members)
    hours = raw.get("working_hours")
    if "webhook_url" in raw.get("chat", {}):
        _check_webhook_url(doc, (*key, "chat", "webhook_url"), raw["chat"]["webhook_url"])
    start = _first_instant(raw["schedule"], tz)
    return Team(raw["name"], tz, members, schedule, overrides, escalation,
                WorkingHours(tuple(hours["weekdays"]), hours["start"], hours["end"])
                if hours else None, tuple(sorted(raw.get("chat", {}).items())),
                tuple(raw.get("paging_service", {}).items()), key, start,
                start + dt.timedelta(seconds=horizon))


def _schedule(doc: YamlDocument, key: tuple[str | int, ...], raw: dict[str, Any], tz: str,
              member_ref: Any, members: tuple[Member, ...]) -> sch.Schedule:
    if "weekly_rotation" in raw:
        rot = raw["weekly_rotation"]
        order = tuple(member_ref((*key, "weekly_rotation", "order", i), name)
                      for i, name in enumerate(rot["order"]))
        start = dt.date.fromisoformat(rot["start"])
        if WEEKDAYS[start.weekday()] != rot["handoff_day"]:
            raise doc.error((*key, "weekly_rotation", "start"),
                            f"start {start} is a {WEEKDAYS[start.weekday()]}, not the hand-off "
                            f"day {rot['handoff_day']}; give the date of the first hand-off")
        return sch.WeeklyRotation(order, tz, dt.time.fromisoformat(rot["handoff_time"]), start)
    by_name = {m.name: m for m in members}
    sun = raw["follow_the_sun"]
    return sch.FollowTheSun(tuple(
        sch.DailyShift(member_ref((*key, "follow_the_sun", "shifts", i, "member"), s["member"]),
                       by_name[s["member"]].timezone, dt.time.fromisoformat(s["start"]),
                       dt.time.fromisoformat(s["end"]),
                       tuple(WEEKDAYS.index(d) for d in s.get("weekdays", WEEKDAYS)))
        for i, s in enumerate(sun["shifts"])))


def _override(doc: YamlDocument, key: tuple[str | int, ...], raw: dict[str, str], tz: str,
              member_ref: Any) -> sch.Override:
    start, end = _local(raw["start"], tz), _local(raw["end"], tz)
    if end <= start:
        raise doc.error((*key, "end"), "an override must end after it starts")
    return sch.Override(member_ref((*key, "member"), raw["member"]), start, end)


def _escalation(doc: YamlDocument, key: tuple[str | int, ...], raw: list[dict[str, str]] | None,
                members: tuple[Member, ...]) -> tuple[Tier, ...]:
    if raw is None:
        return DEFAULT_ESCALATION
    tiers = tuple(Tier(i + 1, parse_duration(t["after"]), t["target"], t["channel"])
                  for i, t in enumerate(raw))
    for i, tier in enumerate(tiers):
        if i and tier.delay <= tiers[i - 1].delay:
            raise doc.error((*key, "escalation", i, "after"),
                            f"tier {tier.number} starts after tier {i}; list tiers in order of "
                            "their delay, each later than the one before")
    return tiers


def _check_webhook_url(doc: YamlDocument, key: tuple[str | int, ...], url: str) -> None:
    """The generated alertmanager.yml is checked in, and the URL would be written into it
    as is; Alertmanager 0.25 cannot read a webhook's URL from a file, Slack's it can."""
    problem = token_in_url(url)
    if problem is None:
        return
    host = (urlsplit(url).hostname or "").lower()
    fix = ("write the URL into a file that Alertmanager and the relay read, and name it "
           "in slack_api_url_file instead") if host in SLACK_HOSTS else \
        ("send chat through a Slack incoming webhook named by slack_api_url_file, or a "
         "webhook whose URL holds no secret")
    raise doc.error(key, f"{dotted(key)} {problem} (the URL is not shown here), and would "
                         f"be written into the checked-in alertmanager.yml; {fix}")


def token_in_url(url: str) -> str | None:
    """What in a webhook URL is a secret, or None: userinfo, a query string, the URL of
    a service whose webhook URL is the credential, or a path segment like a token."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        return "carries user:password@"
    if parts.query:
        return "carries a query string, where tokens go"
    if any(host == h or host.endswith(f".{h}") for h in TOKEN_HOSTS):
        return f"is a {host} webhook, whose URL is its secret"
    if any(TOKEN_SEGMENT.match(segment) for segment in parts.path.split("/")):
        return "carries a token in its path"
    return None


def _first_instant(raw: dict[str, Any], tz: str) -> dt.datetime:
    """Where a team's schedule begins, UTC: the rotation's first hand-off, or midnight of
    the follow-the-sun schedule's first day, in the team's zone."""
    if "weekly_rotation" in raw:
        rot = raw["weekly_rotation"]
        return sch.local_to_utc(dt.date.fromisoformat(rot["start"]),
                                dt.time.fromisoformat(rot["handoff_time"]), tz)
    return sch.local_to_utc(dt.date.fromisoformat(raw["follow_the_sun"]["start"]),
                            dt.time(0, 0), tz)


def _zone(doc: YamlDocument, key: tuple[str | int, ...], name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise doc.error(key, f"{dotted(key)}: {name!r} is not a time zone; use an IANA name "
                             "such as Europe/Berlin or Pacific/Auckland") from None
    return name


def _local(text: str, tz: str) -> dt.datetime:
    local = dt.datetime.fromisoformat(text)
    return sch.local_to_utc(local.date(), local.time(), tz)
