"""``pagerkit report``: the on-call health report.

Reads the firings of ``ALERTS`` from Prometheus, the acknowledgements from Alertmanager
and who was on call from ``alertmanager/routing.yaml`` (the same shifts that route the
pages and answer ``pagerkit oncall who``), and writes the figures as HTML, markdown or
JSON. Prometheus is required; without Alertmanager the report says the acknowledgements
are missing and gives the rest.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..bundle.alerts import load_spec
from ..durations import format_duration, parse_duration
from ..errors import UserError
from ..oncall.routing import load_routing
from ..oncall.who import team_or_error
from .data import (
    ALERTMANAGER_RETENTION,
    Ack,
    History,
    Progress,
    SourceError,
    evaluation_interval,
    fetch_acks,
    fetch_firings,
    retention,
)
from .figures import Figures, Settings, figures
from .render import render

DEFAULT_PROMETHEUS = "http://127.0.0.1:9090"
FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".json": "json"}


@dataclass(frozen=True)
class Request:
    root: Path
    since: str
    until: str | None
    team: str | None
    prometheus: str
    alertmanager: str
    settings: Settings


def prometheus_url(flag: str | None) -> str:
    """--prometheus, else $PAGERKIT_PROMETHEUS_URL, else Prometheus's default address."""
    return (flag or os.environ.get("PAGERKIT_PROMETHEUS_URL") or DEFAULT_PROMETHEUS).rstrip("/")


def output_format(flag: str | None, output: str | None) -> str:
    """--format, else the output file's suffix, else markdown (for a terminal or a pipe)."""
    if flag:
        return flag
    return FORMATS.get(Path(output).suffix.lower(), "html") if output else "markdown"


def window(since: str, until: str | None, now: float) -> tuple[float, float]:
    """[since, until) in Unix seconds: ``until`` a time or now, ``since`` a duration back
    from ``until`` (28d) or a time. Times are ISO 8601, UTC when they carry no offset."""
    end = now if until is None else instant("--until", until)
    try:
        start = end - parse_duration(since)
    except ValueError:
        start = instant("--since", since)
    if start >= end:
        raise UserError("--since", None, f"the window from {_stamp(start)} to {_stamp(end)} "
                                         "is empty; --since must come before --until")
    return start, end


def instant(flag: str, text: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UserError(flag, None, f"{text!r} is neither a duration such as 28d, 12h or "
                                    "1h30m nor a time such as 2026-12-24T21:00+13:00"
                        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def report(request: Request, now: float, progress: Progress | None = None,
           warn: Callable[[str], None] = lambda _: None) -> Figures:
    """The figures; UserError when Prometheus cannot be read or the window is wrong."""
    since, until = window(request.since, request.until, now)
    routing = load_routing(request.root)
    teams = team_or_error(routing, request.team)
    alerts = [a for a in load_spec(request.root).alerts
              if request.team is None or a.team == request.team]
    notes: list[str] = []
    try:
        interval = evaluation_interval(request.prometheus)
        since = _within_retention(retention(request.prometheus), since, until, now, notes)
        firings = fetch_firings(request.prometheus, since, until, interval, request.team,
                                progress)
    except SourceError as exc:
        hint = "; start it, or give its address with --prometheus or PAGERKIT_PROMETHEUS_URL" \
            if exc.message.startswith("cannot reach") else ""
        raise UserError("--prometheus", None, exc.message + hint) from None
    acks = _acks(request.alertmanager, since, now, notes)
    for note in notes:
        warn(note)
    history = History(since, until, interval, tuple(firings), acks, tuple(notes))
    return figures(history, alerts, teams, request.settings)


def _within_retention(keep: float | None, since: float, until: float, now: float,
                      notes: list[str]) -> float:
    if keep is None or since >= now - keep:
        return since
    oldest = now - keep
    if until <= oldest:
        raise SourceError("Prometheus", f"Prometheus keeps {_span(keep)} of "
                                        f"history, so nothing from before {_stamp(oldest)}: "
                                        "the whole window is older; choose a later one")
    notes.append(f"Prometheus keeps {_span(keep)} of history "
                 "(--storage.tsdb.retention.time), so this report covers only from "
                 f"{_stamp(oldest)}, not {_stamp(since)}.")
    return oldest


def _acks(url: str, since: float, now: float, notes: list[str]) -> tuple[Ack, ...] | None:
    try:
        acks = tuple(fetch_acks(url))
    except SourceError as exc:
        notes.append(f"Acknowledgements are missing: {exc.message}. Pages show as not "
                     "acknowledged, noise and escalation cannot be told apart, and no `for` "
                     "is suggested; give Alertmanager's address with --alertmanager.")
        return None
    if since < now - ALERTMANAGER_RETENTION:
        notes.append(f"Alertmanager forgets an expired silence after its --data.retention "
                     f"(120h by default): pages before {_stamp(now - ALERTMANAGER_RETENTION)}"
                     " may show as not acknowledged unless it keeps them longer "
                     "(--data.retention=720h keeps a month).")
    return acks


def run(request: Request, fmt: str, output: str | None, stderr: TextIO | None = None,
        now: float | None = None) -> int:
    """The command: the report written to ``output`` (or stdout); notes on stderr, and the
    progress of long queries when stderr is a terminal."""
    stderr = stderr or sys.stderr
    progress = _progress(stderr) if stderr.isatty() else None
    result = report(request, dt.datetime.now(dt.UTC).timestamp() if now is None else now,
                    progress, lambda note: print(f"pagerkit: {note}", file=stderr))
    text = render(result, fmt)
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(output, None, f"cannot write the report: {exc.strerror}") from None
    print(f"pagerkit: wrote {output} ({fmt}): {len(result.pages)} page(s) from "
          f"{_stamp(result.since)} to {_stamp(result.until)}", file=stderr)
    return 0


def _progress(stream: TextIO) -> Progress:
    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        stream.write(f"\rpagerkit: reading ALERTS from Prometheus: {done}/{total}{end}")
        stream.flush()
    return show


def _span(seconds: float) -> str:
    """``60d`` rather than ``1440h``: retention is written in days."""
    days, rest = divmod(seconds, 86400)
    return f"{days:.0f}d" if days and not rest else format_duration(seconds)


def _stamp(seconds: float) -> str:
    return f"{dt.datetime.fromtimestamp(seconds, dt.UTC):%Y-%m-%d %H:%M} UTC"
