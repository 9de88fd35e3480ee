"""The HTML report's pictures, drawn by matplotlib as inline SVG: no script, no request,
one file. matplotlib is the optional extra ``pagerkit[report]``; without it, ``plots``
returns None and the report keeps its tables."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from .figures import Figures

TIMELINE_ROWS = 25
"""The timeline shows the alerts that fired longest; more rows would not be read."""
BAR_ROWS = 20


def plots(figures: Figures) -> list[tuple[str, str, str]] | None:
    """(id, caption, svg) of each picture, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    # text.parse_math off: an alertname is any string, and "$..$" in one would be read as
    # mathtext (a syntax error there would abort the report)
    plt.rcParams.update({"svg.hashsalt": "pagerkit", "font.size": 9,
                         "text.parse_math": False})
    out = []
    for key, caption, draw in (
            ("pages-by-hour", "Pages by the paged member's local hour", _by_hour),
            ("pages-per-alert", "Pages per alert (noise: gone by itself, unacknowledged)",
             _per_alert),
            ("timeline", "When each alert fired (the longest-firing alerts)", _timeline)):
        fig = draw(plt, figures)
        if fig is not None:
            out.append((key, caption, _svg(plt, fig)))
    return out


def _by_hour(plt: Any, figures: Figures) -> Any:
    members = sorted({p.member for p in figures.pages if p.member is not None})
    if not members:
        return None
    fig, ax = plt.subplots(figsize=(8, 3))
    bottom = [0] * 24
    for member in members:
        counts = Counter(p.local_hour for p in figures.pages if p.member == member)
        heights = [counts.get(h, 0) for h in range(24)]
        ax.bar(range(24), heights, bottom=bottom, label=member)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    start, end = figures.settings.night_start.hour, figures.settings.night_end.hour
    ax.axvspan(start - 0.5, 23.5, color="#203060", alpha=0.08, lw=0)
    ax.axvspan(-0.5, end - 0.5, color="#203060", alpha=0.08, lw=0)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlim(-0.5, 23.5)
    ax.set_xlabel("local hour of the paged member (night shaded)")
    ax.set_ylabel("pages")
    ax.legend(frameon=False)
    return fig


def _per_alert(plt: Any, figures: Figures) -> Any:
    rows = sorted((a for a in figures.alerts if a.pages), key=lambda a: (a.pages, a.alertname))
    rows = rows[-BAR_ROWS:]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.3 * len(rows)))
    names = [a.alertname for a in rows]
    noise = [a.noise for a in rows]
    ax.barh(names, [a.pages - a.noise for a in rows], label="pages", color="#3060a0")
    ax.barh(names, noise, left=[a.pages - a.noise for a in rows], label="noise",
            color="#e0a800")
    ax.set_xlabel("pages")
    ax.legend(frameon=False, loc="lower right")
    return fig


def _timeline(plt: Any, figures: Figures) -> Any:
    if not figures.spans:
        return None
    longest = Counter[str]()
    for name, _, start, end in figures.spans:
        longest[name] += int(end - start)
    names = sorted(n for n, _ in longest.most_common(TIMELINE_ROWS))
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.3 * len(names)))
    for row, name in enumerate(names):
        spans = [(_day(s), max(_day(e) - _day(s), 1 / 1440)) for n, _, s, e in figures.spans
                 if n == name]
        severity = next(sev for n, sev, _, _ in figures.spans if n == name)
        ax.broken_barh(spans, (row - 0.35, 0.7),
                       color="#c03030" if severity == "critical" else "#e0a800")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(_day(figures.since), _day(figures.until))
    ax.set_xlabel("days since the window began (red: critical, yellow: warning)")
    ticks = ax.get_xticks()
    ax.set_xticks(ticks, [f"{t - _day(figures.since):.0f}" for t in ticks])
    ax.set_xlim(_day(figures.since), _day(figures.until))
    return fig


def _day(seconds: float) -> float:
    return seconds / 86400


def _svg(plt: Any, fig: Any) -> str:
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]

