"""The alert spec (``rules/alerts.yaml``) and its per-environment overrides.

Thresholds and ``for`` durations live in the spec with a reason beside each; an
expression names its thresholds as ``${name}``. An overrides file
(``rules/overrides/<env>.yaml``) changes values, never the alerts themselves, so a demo
can page in seconds where production waits minutes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..durations import format_duration, parse_duration
from ..errors import UserError
from ..validation import validate
from ..yamlfile import YamlDocument, load_yaml

SPEC_PATH = Path("rules/alerts.yaml")
OVERRIDES_DIR = Path("rules/overrides")
PLACEHOLDER = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
DEFAULT_MIN_CRITICAL_FOR = 120.0


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    reason: str


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    severity: str
    team: str
    expr: str
    thresholds: tuple[Threshold, ...]
    for_seconds: float | None
    keep_firing_for: float | None
    summary: str
    description: str
    labels: tuple[tuple[str, str], ...]
    playbook: str
    key: tuple[str | int, ...]
    """Where the alert is in the spec, for ``doc.line_of``."""

    def threshold(self, name: str) -> Threshold | None:
        return next((t for t in self.thresholds if t.name == name), None)

    def render(self, text: str) -> str:
        """``text`` with ``${threshold}`` and ``${for}`` replaced by their values."""
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "for":
                return format_duration(self.for_seconds or 0)
            found = self.threshold(name)
            return format_number(found.value) if found is not None else match.group(0)
        return PLACEHOLDER.sub(value, text)


@dataclass(frozen=True)
class AlertSpec:
    doc: YamlDocument
    runbook_base_url: str
    min_critical_for: float
    metric_sources: tuple[str, ...]
    groups: tuple[tuple[str, tuple[Alert, ...]], ...]
    escalation_delays: tuple[float, ...] | None = None
    """An environment's tier delays, for every team."""
    environment: str | None = None
    team_delays: tuple[tuple[str, tuple[float, ...]], ...] = ()
    """Each team's tier delays from the routing spec."""
    overrides: YamlDocument | None = None
    """The environment's overrides file, for errors pointing at it."""

    def delays_for(self, team: str) -> tuple[float, ...] | None:
        if self.escalation_delays is not None:
            return self.escalation_delays
        return dict(self.team_delays).get(team)

    @property
    def alerts(self) -> list[Alert]:
        return [alert for _, alerts in self.groups for alert in alerts]

    def runbook_url(self, alert: Alert) -> str:
        return f"{self.runbook_base_url}/{alert.playbook}"


def format_number(value: float) -> str:
    """``900`` rather than ``900.0``; ``0.9`` as is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def load_spec(root: Path) -> AlertSpec:
    doc = load_yaml(root / SPEC_PATH, str(SPEC_PATH))
    validate(doc, "alerts.schema.json", doc.data)
    raw = doc.data
    team = raw.get("default_team", "platform")
    groups = tuple((g["name"], tuple(_alert(doc, g["name"], team, ("groups", gi, "alerts", ai), a)
                                     for ai, a in enumerate(g["alerts"])))
                   for gi, g in enumerate(raw["groups"]))
    min_for = parse_duration(raw["min_critical_for"]) if "min_critical_for" in raw \
        else DEFAULT_MIN_CRITICAL_FOR
    return AlertSpec(doc, raw["runbook_base_url"], min_for,
                     tuple(raw.get("metric_sources", [])), groups)


def _alert(doc: YamlDocument, group: str, team: str, key: tuple[str | int, ...],
           raw: dict[str, Any]) -> Alert:
    thresholds = tuple(Threshold(name, float(t["value"]), t["reason"])
                       for name, t in sorted((raw.get("thresholds") or {}).items()))
    alert = Alert(
        name=raw["name"], group=group, severity=raw["severity"], team=raw.get("team", team),
        expr=raw["expr"].strip(), thresholds=thresholds,
        for_seconds=parse_duration(raw["for"]) if "for" in raw else None,
        keep_firing_for=parse_duration(raw["keep_firing_for"]) if "keep_firing_for" in raw
        else None,
        summary=raw["summary"].strip(), description=raw["description"].strip(),
        labels=tuple(sorted((raw.get("labels") or {}).items())), playbook=raw["playbook"],
        key=key)
    _check_placeholders(doc, alert)
    return alert


def _check_placeholders(doc: YamlDocument, alert: Alert) -> None:
    known = {t.name for t in alert.thresholds} | {"for"}
    for field in ("expr", "summary", "description"):
        for name in PLACEHOLDER.findall(getattr(alert, field)):
            if name not in known:
                raise doc.error((*alert.key, field),
                                f"{alert.name}: ${{{name}}} is not one of its thresholds; "
                                f"add it under thresholds with a value and a reason")
    used = set(PLACEHOLDER.findall(alert.expr))
    for threshold in alert.thresholds:
        if threshold.name not in used:
            raise doc.error((*alert.key, "thresholds", threshold.name),
                            f"{alert.name}: threshold {threshold.name} is not used in expr; "
                            f"write ${{{threshold.name}}} where it applies, or remove it")


def environments(root: Path) -> list[str]:
    """The overrides files' names, such as ``demo`` for rules/overrides/demo.yaml."""
    folder = root / OVERRIDES_DIR
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def with_overrides(spec: AlertSpec, root: Path, env: str) -> AlertSpec:
    """The spec as environment ``env`` sees it; an override for an unknown alert or
    threshold is an error naming the overrides file and line."""
    rel = OVERRIDES_DIR / f"{env}.yaml"
    doc = load_yaml(root / rel, str(rel))
    validate(doc, "overrides.schema.json", doc.data)
    raw = doc.data or {}
    by_name = {a.name: a for a in spec.alerts}
    changed: dict[str, Alert] = {}
    for name, change in (raw.get("alerts") or {}).items():
        if name not in by_name:
            raise doc.error(("alerts", name), f"no alert named {name} in {SPEC_PATH}; check "
                                              "the spelling or remove this override")
        changed[name] = _override(doc, by_name[name], change)
    groups = tuple((g, tuple(changed.get(a.name, a) for a in alerts))
                   for g, alerts in spec.groups)
    delays = raw.get("escalation_delays")
    return dataclasses.replace(
        spec, groups=groups, environment=env, overrides=doc,
        runbook_base_url=raw.get("runbook_base_url", spec.runbook_base_url),
        min_critical_for=parse_duration(raw["min_critical_for"]) if "min_critical_for" in raw
        else spec.min_critical_for,
        escalation_delays=tuple(parse_duration(d) for d in delays) if delays else None)


def _override(doc: YamlDocument, alert: Alert, change: dict[str, Any]) -> Alert:
    thresholds = list(alert.thresholds)
    for name, value in (change.get("thresholds") or {}).items():
        found = alert.threshold(name)
        if found is None:
            raise doc.error(("alerts", alert.name, "thresholds", name),
                            f"{alert.name} has no threshold {name}; its thresholds are: "
                            f"{', '.join(t.name for t in alert.thresholds) or 'none'}")
        thresholds[thresholds.index(found)] = dataclasses.replace(found, value=float(value))
    return dataclasses.replace(
        alert, thresholds=tuple(thresholds),
        for_seconds=parse_duration(change["for"]) if "for" in change else alert.for_seconds,
        keep_firing_for=parse_duration(change["keep_firing_for"])
        if "keep_firing_for" in change else alert.keep_firing_for)


def paging_problems(spec: AlertSpec) -> list[tuple[str, int, str]]:
    """(file, line, message) for each critical alert that would page on a blip: without
    ``for``, or with one under ``min_critical_for``, at the line to change (an overrides
    file's, where it sets the value). ``generate`` refuses such a spec and ``validate``
    reports it, from this one check."""
    problems = []
    for alert in spec.alerts:
        if alert.severity != "critical":
            continue
        if alert.for_seconds is None:
            message = "a critical alert pages, so it needs `for`: a blip must not wake anyone"
        elif alert.for_seconds < spec.min_critical_for:
            message = (f"for {format_duration(alert.for_seconds)} is shorter than "
                       f"min_critical_for {format_duration(spec.min_critical_for)}")
        else:
            continue
        problems.append(_where_to_fix(spec, alert, f"{alert.name}: {message}"))
    return problems


def _where_to_fix(spec: AlertSpec, alert: Alert, message: str) -> tuple[str, int, str]:
    field = "name" if alert.for_seconds is None else "for"
    over = spec.overrides
    if over is not None and spec.environment is not None:
        data = over.data if isinstance(over.data, dict) else {}
        change = (data.get("alerts") or {}).get(alert.name) or {}
        for key, present in ((("alerts", alert.name, "for"), "for" in change),
                             (("min_critical_for",), "min_critical_for" in data)):
            if present:
                return over.path, over.line_of(key), message
        message = f"{OVERRIDES_DIR / f'{spec.environment}.yaml'}: {message}"
    return str(SPEC_PATH), spec.doc.line_of((*alert.key, field)), message


def spec_error(spec: AlertSpec, alert: Alert, field: str, message: str) -> UserError:
    return spec.doc.error((*alert.key, field), message)
