"""What ``pagerkit report`` reads: the firings of Prometheus's ``ALERTS`` series and the
acknowledgements kept by Alertmanager.

Durations are exact to the rule evaluation, whatever the storage holds. The report reads
the raw samples (``ALERTS{alertstate="firing"}[<chunk>]``, an instant query of a range
selector), each with the time of the evaluation that wrote it, in chunks of at most
11,000 evaluation intervals: the limit Prometheus puts on the points of one series in a
range query, which keeps each answer bounded too. A firing lasts from its first sample to
one interval after its last one (the evaluation that found it resolved); a gap of more
than 1.5 intervals between samples ends it. Raw samples need no staleness marker: a range
query of the series instead (``query_range``) repeats the last sample for up to the
lookback delta (5m) after a firing, unless rule evaluation wrote a marker when the alert
resolved, which live evaluation does and backfilled data cannot. (``timestamp()`` over a
range query would tell the repeats apart, but costs Prometheus 2.42 about 9 s a chunk
where the raw samples take 60 ms.)
"""

from __future__ import annotations

import json
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import yaml

from ..alertmanager import COMMENT_PREFIX, FIRST_TIER_KEPT
from ..durations import parse_duration

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more than 11,000 points per series."""
QUERY_SECONDS = 120.0
"""The deadline of one request, connect to last byte."""
DEFAULT_RETENTION = 15 * 86400.0
ALERTMANAGER_RETENTION = 120 * 3600.0
"""Alertmanager's default --data.retention: expired silences are forgotten after it."""

Labels = tuple[tuple[str, str], ...]
Progress = Callable[[int, int], None]


class SourceError(Exception):
    """Prometheus or Alertmanager could not be read: ``source`` says which, the message why."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


@dataclass(frozen=True)
class Firing:
    """One uninterrupted firing of one ``ALERTS`` series, in Unix seconds: from the first
    evaluation that found it firing to the first that did not. ``before``: it was already
    firing when the window began (``start`` is then the window's start); ``ongoing``: it
    still was when the window ended (``end`` is then the window's end)."""

    labels: Labels
    """Sorted, without ``alertstate``."""
    start: float
    end: float
    before: bool = False
    ongoing: bool = False

    def label(self, name: str) -> str:
        return next((value for key, value in self.labels if key == name), "")

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    regex: bool = False
    equal: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        found = re.fullmatch(self.value, have) is not None if self.regex else have == self.value
        return found == self.equal


@dataclass(frozen=True)
class Ack:
    """An acknowledgement: a silence whose comment starts with ``pagerkit ack:``. ``at`` is
    when it was made (the silence's start), ``ends`` when it stopped silencing."""

    matchers: tuple[Matcher, ...]
    at: float
    ends: float
    member: str
    channel: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class History:
    since: float
    until: float
    interval: float
    """The rule evaluation interval, seconds: the resolution of every duration."""
    firings: tuple[Firing, ...]
    acks: tuple[Ack, ...] | None
    """None when Alertmanager could not be read."""
    notes: tuple[str, ...] = ()
    """What the reader must know about the data: acknowledgements missing, a window cut
    to the retention."""


class RunBuilder:
    """Turns the sample timestamps of each series, fed in time order chunk by chunk, into
    firings; keeps only one open run per series, so memory does not grow with the window."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.open: dict[Labels, list[float]] = {}
        self.closed: list[tuple[Labels, float, float]] = []

    def feed(self, labels: Labels, stamps: list[float]) -> None:
        run = self.open.get(labels)
        for stamp in stamps:
            if run is not None and stamp <= run[1]:
                continue  # the same sample again, within the lookback delta
            if run is not None and stamp - run[1] <= 1.5 * self.interval:
                run[1] = stamp
                continue
            if run is not None:
                self.closed.append((labels, run[0], run[1] + self.interval))
            run = [stamp, stamp]
            self.open[labels] = run

    def firings(self, since: float, until: float) -> list[Firing]:
        spans = [*self.closed, *((k, r[0], r[1] + self.interval) for k, r in self.open.items())]
        out = [Firing(labels, max(start, since), min(end, until), start < since, end > until)
               for labels, start, end in spans if end > since and start < until]
        return sorted(out, key=lambda f: (f.start, f.labels))


def chunks(since: float, until: float, step: float) -> list[tuple[float, float]]:
    """[start, end] pairs covering [since, until], each of at most
    MAX_POINTS steps, so at most that many samples of a series evaluated every ``step``.
    Each begins where the one before ended."""
    out, start = [], since
    while True:
        end = min(start + MAX_POINTS * step, until)
        out.append((start, end))
        if end >= until:
            return out
        start = end


def alerts_selector(team: str | None) -> str:
    team_matcher = f',team="{_escape(team)}"' if team else ""
    return f'ALERTS{{alertstate="firing"{team_matcher}}}'


def fetch_firings(url: str, since: float, until: float, interval: float, team: str | None,
                  progress: Progress | None = None) -> list[Firing]:
    """Every firing of the ``ALERTS`` series that overlaps [since, until]; the samples are
    read from one interval early, so that a firing that began before the window is known
    as such. A chunk's range selector includes both of its ends: a sample read twice is
    skipped."""
    builder = RunBuilder(interval)
    parts = chunks(since - interval, until, interval)
    for done, (start, end) in enumerate(parts, 1):
        params = {"query": f"{alerts_selector(team)}[{round((end - start) * 1000)}ms]",
                  "time": _num(end)}
        status, body = _get_body("Prometheus", url + "/api/v1/query", params)
        if status != 200 or not body.startswith(b'{"status":"success"'):
            prometheus_get(url, "/api/v1/query", params)  # raises with Prometheus's error
            raise SourceError("Prometheus", f"Prometheus at {url} answered {status}")
        for metric, stamps in matrix_stamps(body.decode()):
            for name in ("__name__", "alertstate"):
                metric.pop(name, None)
            builder.feed(tuple(sorted(metric.items())), stamps[bisect_left(stamps, start):])
        if progress is not None:
            progress(done, len(parts))
    return builder.firings(since, until)


_DECODER = json.JSONDecoder()
_STAMP = re.compile(r"\[([-+.0-9eE]+),")
_VALUES = ',"values":['


def matrix_stamps(text: str) -> Iterator[tuple[dict[str, str], list[float]]]:
    """Each series' labels and sample timestamps from a matrix answer, without building a
    list per sample: json.loads spends over 1 s per million samples on those, the regular
    expression a fraction of it. A sample is ``[<time>,"<value>"]`` and its value a number
    in a string, so the first ``]]`` after ``"values":[`` closes the series."""
    at = text.find('{"metric":')
    while at >= 0:
        metric, end = _DECODER.raw_decode(text, at + len('{"metric":'))
        if not text.startswith(_VALUES, end):
            raise SourceError("Prometheus", "Prometheus answered a matrix without values")
        close = text.index("]]", end)
        yield metric, list(map(float, _STAMP.findall(text, end + len(_VALUES), close + 1)))
        at = text.find('{"metric":', close)


def evaluation_interval(url: str) -> float:
    """The shortest interval of the rule groups that hold alerting rules, else the
    configured global evaluation_interval (Prometheus's default 1m)."""
    groups = prometheus_get(url, "/api/v1/rules", {"type": "alert"}).get("groups", [])
    intervals = [float(g["interval"]) for g in groups if g.get("rules") and g.get("interval")]
    if intervals:
        return min(intervals)
    config = yaml.safe_load(prometheus_get(url, "/api/v1/status/config", {})["yaml"]) or {}
    return parse_duration(str((config.get("global") or {}).get("evaluation_interval", "1m")))


def retention(url: str) -> float | None:
    """How far back Prometheus keeps data, seconds; None when only a size limits it."""
    flags = prometheus_get(url, "/api/v1/status/flags", {})
    for name in ("storage.tsdb.retention.time", "storage.tsdb.retention"):
        value = str(flags.get(name, "0s"))
        if value not in ("0s", "", "0"):
            return parse_duration(value)
    return None if flags.get("storage.tsdb.retention.size", "0B") != "0B" else DEFAULT_RETENTION


def prometheus_get(url: str, path: str, params: Mapping[str, str]) -> Any:
    body = _get_json("Prometheus", url + path, params)
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", body) if isinstance(body, dict) else body
        raise SourceError("Prometheus", f"Prometheus at {url} refused {path}: {error}")
    return body["data"]


def fetch_acks(url: str) -> list[Ack]:
    """Every acknowledgement Alertmanager still keeps, active, pending or expired."""
    silences = _get_json("Alertmanager", url + "/api/v2/silences", {})
    if not isinstance(silences, list):
        raise SourceError("Alertmanager", f"Alertmanager at {url} answered /api/v2/silences "
                                          "with something other than a list of silences")
    return sorted((ack for ack in map(ack_of, silences) if ack is not None), key=lambda a: a.at)


def ack_of(silence: Mapping[str, Any]) -> Ack | None:
    """The acknowledgement a silence is (comment ``pagerkit ack: alice by sms[: note]``),
    or None for any other silence."""
    comment = str(silence.get("comment", ""))
    if not comment.startswith(COMMENT_PREFIX):
        return None
    who, _, rest = comment[len(COMMENT_PREFIX):].strip().partition(" by ")
    channel = rest.split(":", 1)[0].strip()
    # The first tier is left unmuted on purpose (FIRST_TIER_KEPT); the acknowledgement
    # still covers the whole incident, first tier included.
    matchers = tuple(Matcher(str(m["name"]), str(m["value"]), bool(m.get("isRegex")),
                             bool(m.get("isEqual", True))) for m in silence.get("matchers", [])
                     if dict(m) != FIRST_TIER_KEPT)
    return Ack(matchers, _instant(silence["startsAt"]), _instant(silence["endsAt"]),
               str(silence.get("createdBy") or who), channel)


def _get_body(source: str, url: str, params: Mapping[str, str]) -> tuple[int, bytes]:
    """GET, the whole exchange under QUERY_SECONDS: a peer that drips its answer is cut off
    at the deadline, not after each slow read."""
    deadline = time.monotonic() + QUERY_SECONDS
    try:
        with requests.get(url, params=dict(params), stream=True,
                          timeout=(5, QUERY_SECONDS)) as response:
            return response.status_code, b"".join(
                _until(response.iter_content(1 << 16), deadline, source, url))
    except requests.exceptions.RequestException as exc:
        raise SourceError(source, f"cannot reach {source} at {_base(url)} "
                                  f"({type(exc).__name__})") from None


def _get_json(source: str, url: str, params: Mapping[str, str]) -> Any:
    status, body = _get_body(source, url, params)
    try:
        decoded = json.loads(body)
    except ValueError:
        raise SourceError(source, f"{source} at {_base(url)} answered {status} "
                                  f"with something that is not JSON: {body[:120]!r}") from None
    if status >= 400 and not isinstance(decoded, dict):
        raise SourceError(source, f"{source} at {_base(url)} answered {status}: "
                                  f"{body[:200]!r}")
    return decoded


def _until(parts: Iterator[bytes], deadline: float, source: str, url: str) -> Iterator[bytes]:
    for part in parts:
        if time.monotonic() > deadline:
            raise SourceError(source, f"{source} at {_base(url)} did not answer within "
                                      f"{QUERY_SECONDS:.0f}s; try a shorter --since")
        yield part


def _base(url: str) -> str:
    return url.split("/api/", 1)[0]


def _instant(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')

