"""The acknowledgement pages: small, readable on a phone at 3 a.m., no script.

A GET (or HEAD) only shows; the buttons POST. Messaging apps fetch links to preview them,
and a preview must never acknowledge. Only http and https addresses become links: the
playbook's comes from an annotation, which is anyone's to write.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from zoneinfo import ZoneInfo

from .links import AckTarget, start_of
from .texts import web_url

CHOICES = (("30m", "30 minutes", 1800.0), ("2h", "2 hours", 7200.0))
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
           ("X-Robots-Tag", "noindex"), ("Referrer-Policy", "no-referrer"),
           ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                       "form-action 'self'; frame-ancestors 'none'")]
_STYLE = ("body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em;"
          "line-height:1.4}button{font-size:1.2em;padding:.7em 1em;margin:.3em 0;width:100%}"
          ".bad{color:#a00;font-weight:bold}.ok{color:#060;font-weight:bold}"
          "td{padding:.1em .5em;vertical-align:top}")


def page(title: str, body: str) -> bytes:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n").encode()


def when(at: dt.datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return f"{local:%a %H:%M %Z} ({at.astimezone(dt.UTC):%H:%M} UTC)"


def alert_page(target: AckTarget, alerts: list[dict[str, Any]], timezone: str,
               now: dt.datetime, acknowledged: bool = False) -> bytes:
    """What fires and since when, who is paged, the playbook, and the two buttons; no
    button when the incident the link was sent for is over, even if a later one fires.
    ``acknowledged``: an acknowledgement covers the group (it leaves the first tier
    unmuted, so the alerts' own silenced state does not say it)."""
    name = target.labels.get("alertname", "alert")
    e = html.escape
    if not alerts:
        return page(f"{name}: resolved", f"<h1>{e(name)}</h1><p class=\"ok\">Nothing fires "
                    "any more: it resolved. There is nothing to acknowledge.</p>")
    first = min(alerts, key=start_of)
    since = start_of(first)
    if not target.goes_on(alerts):
        return ended_page(name, since, timezone)
    minutes = max(int((now - since).total_seconds() // 60), 0)
    silenced = [a for a in alerts if a.get("status", {}).get("silencedBy")]
    rows = "".join(f"<tr><td>{e(a.get('annotations', {}).get('summary', name))}</td>"
                   f"<td>{e(_labels(a))}</td></tr>" for a in _one_per_tier(alerts))
    book = web_url(first.get("annotations", {}).get("runbook_url"))
    state = ("<p class=\"ok\">Already acknowledged; acknowledging again extends it.</p>"
             if acknowledged or (silenced and len(silenced) == len(alerts)) else "")
    buttons = "".join(f"<button type=\"submit\" name=\"for\" value=\"{v}\">Acknowledge for "
                      f"{label}</button>" for v, label, _ in CHOICES)
    body = (f"<h1>{e(name)}</h1>"
            f"<p class=\"bad\">FIRING since {e(when(since, timezone))}, {minutes} min</p>"
            f"{state}<p>Paged: <b>{e(target.member)}</b> by {e(target.channel)}"
            f" (team {e(target.labels.get('team', '-'))})</p>"
            f"<table>{rows}</table>"
            + (f"<p><a href=\"{e(book)}\" rel=\"noreferrer\">Open the playbook</a></p>"
               if book else "")
            + f"<form method=\"post\">{buttons}</form>")
    return page(f"{name}: acknowledge", body)


def ended_page(name: str, since: dt.datetime, timezone: str) -> bytes:
    """An old link (or one from the chat) opened while a later incident fires: it was sent
    for an incident that is over, and it acknowledges nothing else."""
    e = html.escape
    return page(f"{name}: this incident has ended",
                f"<h1>{e(name)}</h1><p class=\"ok\" id=\"result\">The incident this link "
                "was sent for has ended. This link acknowledges nothing else.</p>"
                f"<p>{e(name)} fires again since {e(when(since, timezone))}: that is a later "
                "incident. Use the link of its own page, or <code>pagerkit ack</code>.</p>")


def acknowledged_page(target: AckTarget, until: dt.datetime, timezone: str,
                      book: str | None) -> bytes:
    name = html.escape(target.labels.get("alertname", "alert"))
    book = web_url(book)
    link = (f"<p><a href=\"{html.escape(book)}\" rel=\"noreferrer\">Open the playbook</a></p>"
            if book else "")
    return page(f"{name}: acknowledged",
                f"<h1>{name}</h1><p class=\"ok\" id=\"result\">Acknowledged by "
                f"{html.escape(target.member)} until {html.escape(when(until, timezone))}."
                "</p><p>The later tiers will not page. When the alert resolves, the "
                f"acknowledgement ends and the next incident pages again.</p>{link}")


def not_acknowledged_page(name: str, reason: str, again: bool = True) -> bytes:
    """``again``: whether trying again may help (not when Alertmanager refused it)."""
    retry = "Try again in a moment, or acknowledge" if again else "Acknowledge"
    return page(f"{name}: NOT acknowledged",
                f"<h1>{html.escape(name)}</h1><p class=\"bad\" id=\"result\">NOT acknowledged: "
                f"{html.escape(reason)}.</p><p>The escalation goes on. {retry} with "
                "<code>pagerkit ack</code> or the Alertmanager UI.</p>")


def refused_page(reason: str) -> bytes:
    return page("Not acknowledged", f"<h1>Not acknowledged</h1><p class=\"bad\" id=\"result\">"
                f"{html.escape(reason)}: nothing was acknowledged.</p><p>Use the link of the "
                "newest page, or <code>pagerkit ack</code>.</p>")


def _labels(alert: dict[str, Any]) -> str:
    skip = {"alertname", "severity", "team", "tier"}
    return " ".join(f"{k}={v}" for k, v in sorted(alert.get("labels", {}).items())
                    if k not in skip)


def _one_per_tier(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tier of an alert repeats its labels: show each affected object once."""
    seen: dict[str, dict[str, Any]] = {}
    for alert in sorted(alerts, key=lambda a: a.get("labels", {}).get("tier", "")):
        seen.setdefault(_labels(alert), alert)
    return list(seen.values())
