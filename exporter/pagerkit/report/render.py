"""The on-call report as JSON (for machines), markdown (for the team's chat) and one
self-contained HTML file (tables, and plots when matplotlib is installed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..durations import format_duration
from .figures import AlertFigures, Figures, MemberFigures

PLOTS_HINT = "install the report extra (pip install 'pagerkit[report]') for the plots"


def render(figures: Figures, fmt: str) -> str:
    if fmt == "json":
        return render_json(figures)
    if fmt == "markdown":
        return render_markdown(figures)
    return render_html(figures)


def render_json(figures: Figures) -> str:
    """Every figure, times as ISO 8601 UTC and durations in seconds."""
    data = dataclasses.asdict(figures)
    data["since"], data["until"] = _iso(figures.since), _iso(figures.until)
    data["settings"] = {"noise_seconds": figures.settings.noise,
                        "night": _night(figures)}
    for page in data["pages"]:
        page["start"] = _iso(page["start"])
        page["labels"] = dict(page["labels"])
    data["spans"] = [{"alertname": a, "severity": s, "start": _iso(b), "end": _iso(e)}
                     for a, s, b, e in figures.spans]
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def render_markdown(figures: Figures) -> str:
    lines = [f"## On call, {_window(figures)}", ""]
    lines += [f"> {md(note)}" for note in figures.notes] + ([""] if figures.notes else [])
    lines += [_summary(figures), ""]
    lines += [*_md_table(*_alert_table(figures)), ""]
    suggestions = [a for a in figures.alerts if a.suggestion]
    if suggestions:
        lines += ["**Noisy alerts**", ""]
        lines += [f"- {md(a.alertname)}: {md_inline(_for_text(a))}"
                  for a in suggestions] + [""]
    lines += [*_md_table(*_member_table(figures)), ""]
    lines += [f"- {line}" for line in _findings(figures, md)]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_html(figures: Figures) -> str:
    from . import plots as report_plots

    plots = report_plots.plots(figures)
    parts = [f"<h1>On call, {html.escape(_window(figures))}</h1>"]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in figures.notes]
    parts.append(f"<p>{html.escape(_summary(figures))}</p>")
    if plots is None:
        parts.append(f'<p class="note">No plots: {html.escape(PLOTS_HINT)}.</p>')
    parts.append("<h2>Alerts</h2>" + _html_table(*_alert_table(figures)))
    suggestions = [a for a in figures.alerts if a.suggestion]
    if suggestions:
        parts.append("<h2>Noisy alerts</h2><ul>" + "".join(
            f"<li><b>{html.escape(a.alertname)}</b>: {html.escape(_for_text(a))}</li>"
            for a in suggestions) + "</ul>")
    parts.append("<h2>Who carried the pager</h2>" + _html_table(*_member_table(figures)))
    parts.append("<h2>To fix or to delete</h2><ul>" + "".join(
        f"<li>{html.escape(line)}</li>" for line in _findings(figures)) + "</ul>")
    if plots:
        parts.append("<h2>Pictures</h2>" + "".join(
            f'<figure class="plot" id="{key}">{svg}<figcaption>{html.escape(title)}'
            "</figcaption></figure>" for key, title, svg in plots))
    return _PAGE.format(title=html.escape(f"On call, {_window(figures)}"),
                        body="\n".join(parts))


def _alert_table(figures: Figures) -> tuple[list[str], list[list[str]]]:
    head = ["alert", "severity", "pages", "firings", "time firing", "median", "p95", "noise",
            "escalated", "acknowledged", "median ack"]
    rows = [[a.alertname, a.severity, _n(a.pages, a.severity), str(a.firings),
             _share(a), _d(a.median_seconds), _d(a.p95_seconds), _n(a.noise, a.severity),
             _n(a.escalated, a.severity), _acks(a, figures), _d(a.median_ack_seconds)]
            for a in _ordered(figures.alerts) if a.firings or a.firing_seconds]
    return head, rows


def _member_table(figures: Figures) -> tuple[list[str], list[list[str]]]:
    head = ["member", "team", "on call", "pages", "at night", "nights interrupted",
            "pages per week on call"]
    rows = [[m.name, m.team, _hours(m), str(m.pages), str(m.night_pages),
             str(m.nights_interrupted), _per_week(m)]
            for m in figures.members]
    return head, rows


def _findings(figures: Figures, name_of: Callable[[str], str] = str) -> list[str]:
    """The findings as sentences; ``name_of`` writes the alert and team names (markdown
    escapes them, HTML escapes whole lines)."""
    out = []
    for name in figures.chronic_warnings:
        alert = next(a for a in figures.alerts if a.alertname == name)
        out.append(f"{name_of(name)} fired for {alert.firing_share:.0%} of the window: fix what it "
                   "warns about, or delete it")
    if figures.never_fired:
        out.append("never fired: " + ", ".join(map(name_of, figures.never_fired)) + " (check "
                   "that each still can: a rule that cannot fire protects nothing)")
    for team in figures.teams:
        if team.spread is not None:
            night = "" if team.night_spread is None else \
                f", night pages {team.night_spread:.1f}"
            out.append(f"team {name_of(team.name)}: the busiest member had "
                       f"{team.spread:.1f} times the team's pages per week on call{night} "
                       "(1.0 is even)")
    return out or ["nothing: no warning fired for most of the window, every alert fired"]


def _summary(figures: Figures) -> str:
    pages = len(figures.pages)
    noise = sum(p.noise for p in figures.pages)
    night = sum(p.night is not None for p in figures.pages)
    escalated = sum(p.tier > 1 for p in figures.pages)
    if not figures.spans:
        return (f"Nothing fired in this window ({_window(figures)}): no page, no warning. "
                "If that is a surprise, check that Prometheus evaluates the rules.")
    acks = "" if figures.acks_available else " (acknowledgements unknown)"
    return (f"{pages} page(s), {noise} of them noise (gone by themselves within "
            f"{format_duration(figures.settings.noise)}), {night} at night, {escalated} "
            f"escalated past the first tier{acks}.")


def _for_text(alert: AlertFigures) -> str:
    if alert.suggested_for_seconds is None:
        return f"{alert.noise} short firing(s); no for to suggest: {alert.suggestion}"
    now = "none" if alert.for_seconds is None else format_duration(alert.for_seconds)
    return (f"for: {format_duration(alert.suggested_for_seconds)} instead of {now}: "
            f"{alert.suggestion}")


def _ordered(alerts: Sequence[AlertFigures]) -> list[AlertFigures]:
    return sorted(alerts, key=lambda a: (-a.pages, -a.firing_seconds, a.alertname))


def _acks(alert: AlertFigures, figures: Figures) -> str:
    if alert.severity != "critical":
        return ""
    return str(alert.acknowledged) if figures.acks_available else "?"


def _n(value: int, severity: str) -> str:
    return str(value) if severity == "critical" else ""


def _share(alert: AlertFigures) -> str:
    share = "<1%" if 0 < alert.firing_share < 0.005 else f"{alert.firing_share:.0%}"
    return f"{_d(alert.firing_seconds)} ({share})"


def _hours(member: MemberFigures) -> str:
    hours = member.on_call_seconds / 3600
    return f"{hours:.1f} h" if 0 < hours < 10 else f"{hours:.0f} h"


def _per_week(member: MemberFigures) -> str:
    """A weekly rate says little about less than a day on call."""
    if member.pages_per_week is None or member.on_call_seconds < 86400:
        return "-"
    return f"{member.pages_per_week:.1f}"


def _d(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_duration(round(seconds))


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(md_inline(cell) or " " for cell in row) + " |"
              for row in rows)]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~$&@])")
_MD_BLOCK_START = re.compile(r"^(\d*)([-+=.)])")


def md(text: str) -> str:
    """``text`` as markdown that renders as exactly that text on one line, also at the
    start of a line or a list item (where ``- ``, ``1.`` would start a list)."""
    return _MD_BLOCK_START.sub(r"\1\\\2", md_inline(text))


def md_inline(text: str) -> str:
    """``text`` as markdown that renders as exactly that text within a line or a table
    cell, whatever it holds: an alertname, a label or a member's name comes from configs
    and Prometheus, and must not end a cell (``|``, a newline), start a heading, or become
    a link (``[..](javascript:..)``, ``<scheme:..>``, an e-mail address), markup or HTML.
    Runs of whitespace become one space, as a browser would show them anyway."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _window(figures: Figures) -> str:
    since, until = _utc(figures.since), _utc(figures.until)
    return f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"


def _night(figures: Figures) -> str:
    return f"{figures.settings.night_start:%H:%M}-{figures.settings.night_end:%H:%M}"


def _iso(seconds: Any) -> str:
    return _utc(float(seconds)).isoformat().replace("+00:00", "Z")


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
thead {{ background: #f3f3f3; }}
.note {{ background: #fff4d6; padding: 0.5em 1em; border-left: 4px solid #e0a800; }}
figure.plot svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
