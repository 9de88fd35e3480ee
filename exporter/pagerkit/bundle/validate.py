"""``pagerkit validate``: the specs, the generated files and the playbooks agree.

A spec it cannot read is refused (exit 2, ``file:line``); findings (exit 1) come out as
``path:line: message``, as GitHub workflow annotations, or as JSON.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import promql_parser

from ..errors import UserError, read_text
from ..oncall.routing import ROUTING_PATH
from ..yamlfile import parse_yaml
from .alerts import SPEC_PATH, Alert, AlertSpec, paging_problems
from .generate import bundle, stale_files
from .playbooks import (
    PLAYBOOK_DIR,
    README,
    Playbook,
    github_slug,
    load_playbooks,
    parse_playbook,
    section_problems,
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str


PROMETHEUS_OWN = frozenset({
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added", "ALERTS",
    "ALERTS_FOR_STATE",
})


@dataclass(frozen=True)
class MetricCatalog:
    """The metric names a rule may select besides Prometheus's own: ``exported`` by pagerkit,
    and those ``defined_by`` an exporter config's queries (a ``UserError`` if it is bad).
    Given by the command line, which alone sees every part that exports metrics."""

    exported: frozenset[str]
    defined_by: Callable[[Path], set[str]]


def validate_bundle(root: Path, catalog: MetricCatalog) -> list[Finding]:
    """Every finding, sorted; ``catalog`` says which metric names a rule may select."""
    made = bundle(root)
    routes, all_specs = made.routes, made.specs
    stale = stale_files(root, made.files)
    findings = [Finding(str(path), 1, f"stale: {why}; run `pagerkit generate`")
                for path, why in stale]
    known = known_metrics(root, all_specs[0], catalog)
    for spec in all_specs:
        findings += spec_findings(spec, known if spec.environment is None else None)
    if routes is not None:
        teams = {t.name for t in routes.teams}
        findings += [Finding(str(SPEC_PATH), all_specs[0].doc.line_of((*a.key, "team")),
                             f"{a.name}: team {a.team} is not in {ROUTING_PATH}; its pages "
                             "would reach nobody")
                     for a in all_specs[0].alerts
                     if a.team not in teams and a.severity != "info"]
    # A fresh file holds exactly what the generator writes; only an edited one can lack
    # what Prometheus and the routing need.
    findings += generated_findings(root, [path for path, _ in stale])
    books = load_playbooks(root, readme=True)
    readme = books.pop(README, None)
    findings += playbook_findings(all_specs[0], books)
    findings += link_findings(root, [*books.values(), *([readme] if readme else [])])
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.message))


def known_metrics(root: Path, spec: AlertSpec, catalog: MetricCatalog) -> set[str]:
    names = set(catalog.exported) | PROMETHEUS_OWN
    for source in spec.metric_sources:
        try:
            names |= catalog.defined_by(root / source)
        except UserError as exc:
            raise UserError(str(SPEC_PATH), spec.doc.line_of(("metric_sources",)),
                            f"metric_sources: {exc}") from None
    return names


def spec_findings(spec: AlertSpec, known: set[str] | None) -> list[Finding]:
    findings = [Finding(*problem) for problem in paging_problems(spec)]
    if known is not None:
        findings += [Finding(str(SPEC_PATH), spec.doc.line_of((*alert.key, "expr")),
                             f"{alert.name}: metric {name} is neither exported by pagerkit "
                             "nor defined by a query in metric_sources")
                     for alert in spec.alerts
                     for name in sorted(metric_names(alert.render(alert.expr)) - known)]
    return findings


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects, from its syntax tree."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def playbook_findings(spec: AlertSpec, books: dict[str, Playbook]) -> list[Finding]:
    """Every alert links to its own section; every section belongs to an alert and is
    written out in full."""
    findings = [f for alert in spec.alerts if (f := _link_finding(spec, alert, books))]
    names = {alert.name for alert in spec.alerts}
    for book in books.values():
        seen: dict[str, int] = {}
        for section in book.sections:
            if section.name not in names:
                findings.append(Finding(book.path, section.line,
                                        f"section {section.name} belongs to no alert in "
                                        f"{SPEC_PATH}; rename it to its alert or remove it"))
            if section.name in seen:
                findings.append(Finding(book.path, section.line,
                                        f"section {section.name} is repeated (first on line "
                                        f"{seen[section.name]}, this one is "
                                        f"#{section.anchor}); links reach only the first"))
            seen.setdefault(section.name, section.line)
            findings += [Finding(book.path, line, message)
                         for line, message in section_problems(section)]
    return findings


def _link_finding(spec: AlertSpec, alert: Alert, books: dict[str, Playbook]
                  ) -> Finding | None:
    file, _, anchor = alert.playbook.partition("#")
    line = spec.doc.line_of((*alert.key, "playbook"))
    book = books.get(file)
    if book is None:
        return Finding(str(SPEC_PATH), line, f"{alert.name}: playbook {PLAYBOOK_DIR / file} "
                                             "does not exist; create it or fix the link")
    heading = book.anchors.get(anchor)
    if heading is None:
        wanted = github_slug(alert.name)
        hint = f"; the alert's own section would be #{wanted}" if wanted in book.anchors else \
            f"; add `## {alert.name}` (run `pagerkit playbook new {alert.name}`)"
        return Finding(str(SPEC_PATH), line, f"{alert.name}: {book.path} has no heading "
                                             f"#{anchor}{hint}")
    if heading.level != 2 or heading.text != alert.name:
        return Finding(str(SPEC_PATH), line, f"{alert.name}: #{anchor} in {book.path} is the "
                                             f"heading '{heading.text}' (line {heading.line}), "
                                             f"not this alert's section; the link is stale")
    return None


EXTERNAL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|//)")
"""A link with a scheme (https:, mailto:) or to another host: not followed."""


def link_findings(root: Path, books: list[Playbook]) -> list[Finding]:
    """Every link between files and to sections, inside the playbooks and their README,
    leads somewhere: the file exists, and a ``#section`` is one of its headings."""
    anchors: dict[str, set[str]] = {book.path: set(book.anchors) for book in books}
    findings = []
    for book in books:
        for link in book.links:
            if EXTERNAL.match(link.target):
                continue
            problem = _link_problem(root, book.path, link.target, anchors)
            if problem:
                findings.append(Finding(book.path, link.line, f"link {link.target}: {problem}"))
    return findings


def _link_problem(root: Path, source: str, target: str, anchors: dict[str, set[str]]
                  ) -> str | None:
    file, _, anchor = target.partition("#")
    file = file.partition("?")[0]
    path = os.path.normpath(os.path.join(os.path.dirname(source), file)) if file else source
    if not (root / path).exists():
        return f"{path} does not exist; fix the link or create the file"
    if not anchor or not path.endswith(".md") or (root / path).is_dir():
        return None
    if path not in anchors:
        anchors[path] = set(parse_playbook(read_text(root / path, path), path).anchors)
    if anchor not in anchors[path]:
        return f"{path} has no heading #{anchor}; link to one of its headings"
    return None


REQUIRED_LABELS = ("severity", "team")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


def generated_findings(root: Path, files: Iterable[Path]) -> list[Finding]:
    """What the checked-in rule files say, checked as Prometheus will read them."""
    findings = []
    for path in sorted(files):
        if path.name.endswith(".rules.yml") and (root / path).is_file():
            findings += _rule_file_findings(root, path)
    return findings


def _rule_file_findings(root: Path, path: Path) -> list[Finding]:
    try:
        doc = parse_yaml(read_text(root / path, str(path)), str(path))
    except UserError as exc:
        return [Finding(str(path), exc.line or 1, exc.message)]
    findings = []
    for key, rule in _rules(doc.data):
        name, line = rule.get("alert", "?"), doc.line_of(key)
        for field, wanted in (("labels", REQUIRED_LABELS),
                              ("annotations", REQUIRED_ANNOTATIONS)):
            found = rule.get(field)
            values: dict[str, Any] = found if isinstance(found, dict) else {}
            findings += [Finding(str(path), line, f"{name}: no {field[:-1]} {k}")
                         for k in wanted if not values.get(k)]
    return findings


def _rules(data: Any) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """(path, rule) for every rule of a rule file, whatever an edit did to its shape."""
    groups = data.get("groups") if isinstance(data, dict) else None
    return [(("groups", gi, "rules", ri), rule)
            for gi, group in enumerate(groups if isinstance(groups, list) else [])
            if isinstance(group, dict) and isinstance(group.get("rules"), list)
            for ri, rule in enumerate(group["rules"]) if isinstance(rule, dict)]


def format_findings(findings: list[Finding], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"findings": [asdict(f) for f in findings]}, indent=2) + "\n"
    if fmt == "github":
        return "".join(f"::error file={f.path},line={f.line}::{_gh(f.message)}\n"
                       for f in findings)
    return "".join(f"{f.path}:{f.line}: {f.message}\n" for f in findings)


def format_error(error: UserError, fmt: str) -> str:
    """A spec that cannot be read, in the format findings would have come in."""
    if fmt == "json":
        return json.dumps({"findings": [], "error": {"path": error.path, "line": error.line,
                                                     "message": error.message}},
                          indent=2) + "\n"
    line = "" if error.line is None else f",line={error.line}"
    return f"::error file={error.path}{line}::{_gh(error.message)}\n"


def _gh(message: str) -> str:
    """GitHub's workflow-command escaping for a message."""
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
