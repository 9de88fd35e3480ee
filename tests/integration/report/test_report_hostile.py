"""The report of a history whose alertnames and labels are hostile, read from a real
Prometheus: any string is a valid label value, and the report goes to a chat (markdown)
and a browser (HTML). Every name must come out as exactly its text: no cell broken, no
heading, no link, no element injected, no script run, and the plots still drawn."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pagerkit.cli import main
from tests.conftest import ROOT, free_port, tool
from tests.harness.report_history import HistoryPrometheus, Incident, backfill

pytestmark = pytest.mark.integration

HOSTILE = (
    "Evil | cell\n# Injected heading\n| x |",
    "<img src=x onerror=\"window.pwned=1\">",
    "[click](javascript:window.pwned=2)",
    "<javascript:window.pwned=3>",
    "Cost $\\frac{$ high",
    "--><script>window.pwned=4</script><!--",
    "**bold** `code` ~~gone~~ mallory@example.com",
    "1. \"quoted\" \\ back\\slash &amp; &lt;b&gt;",
)
LABELS = {"runbook_url": "javascript:window.pwned=5", "instance": "<b>x</b>\n| y"}


def openmetrics(value: str) -> str:
    """A label value as OpenMetrics writes it (the history harness writes it as given)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Stack:
    root: Path
    prometheus: str
    since: float
    until: float


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    promtool = tool("promtool", "prometheus")
    tool("prometheus", "prometheus")
    base = tmp_path_factory.mktemp("hostile-report")
    root = base / "repo"
    shutil.copytree(ROOT / "rules", root / "rules")
    shutil.copytree(ROOT / "alertmanager", root / "alertmanager")
    now = time.time() // 3600 * 3600
    since, until = now - 2 * 86400, now - 3 * 3600
    incidents = [Incident(openmetrics(name), "critical", since + (n + 1) * 3600, 300,
                          {k: openmetrics(v) for k, v in LABELS.items()})
                 for n, name in enumerate(HOSTILE)]
    backfill(promtool, incidents, 15.0, base / "data")
    prometheus = HistoryPrometheus(base / "data", free_port(), "15s")
    try:
        yield Stack(root, prometheus.url, since, until)
    finally:
        prometheus.stop()


def report(stack: Stack, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    def iso(value: float) -> str:
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()

    code = main(["report", "--root", str(stack.root), "--since", iso(stack.since),
                 "--until", iso(stack.until), "--prometheus", stack.prometheus,
                 "--alertmanager", f"http://127.0.0.1:{free_port()}", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_json_keeps_every_name_and_label_exactly(stack, capsys):
    data = json.loads(report(stack, capsys, "--format", "json"))
    assert {a["alertname"] for a in data["alerts"] if a["firings"]} == set(HOSTILE)
    assert sorted(p["alertname"] for p in data["pages"]) == sorted(HOSTILE)
    for page in data["pages"]:
        assert {k: page["labels"][k] for k in LABELS} == LABELS


def test_markdown_cells_hold_the_names_and_nothing_more(stack, capsys):
    """Parsed as CommonMark with GitHub's tables: one heading (the report's), no link,
    no HTML, no markup but the report's own, every row of the alerts table 11 cells,
    each name in one cell as its text (runs of whitespace shown as one space, as any
    renderer shows them)."""
    text = report(stack, capsys, "--format", "markdown")
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tokens = parser.parse(text)
    inline = [child for t in tokens if t.children for child in t.children]
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h2"]
    assert not [t for t in tokens + inline if t.type in (
        "html_block", "html_inline", "link_open", "image", "code_inline", "s_open",
        "em_open", "ordered_list_open")], text
    assert [t.content for i, t in enumerate(inline) if inline[i - 1].type == "strong_open"
            ] == ["Noisy alerts"]  # the report's own, and only it
    rows: list[list[str]] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and tokens[i - 1].type in ("td_open", "th_open"):
            rows[-1].append("".join(c.content for c in token.children or []))
    alert_rows = [row for row in rows if len(row) == 11 or row[0] in
                  {" ".join(n.split()) for n in HOSTILE}]
    assert all(len(row) == 11 for row in alert_rows), alert_rows
    assert {row[0] for row in alert_rows[1:]} == {" ".join(n.split()) for n in HOSTILE}
    rendered = parser.render(text)
    assert "<img" not in rendered and "<script" not in rendered and "href" not in rendered


def test_html_has_no_link_element_or_script_from_the_names(stack, capsys, tmp_path):
    """In Chromium: no href at all (the report has no link of its own), none of the
    injected elements, no script run, each name the exact text of its cell, the plots
    drawn (a "$...$" in a name is text, not mathtext)."""
    from tests.harness.browser import chromium

    page = tmp_path / "report.html"
    page.write_text(report(stack, capsys, "--format", "html"))
    with chromium() as browser:
        browser.get(page.as_uri())
        found = browser.execute_script("""
            return {
              hrefs: [...document.querySelectorAll('[href], [src], [onerror], [onclick]')]
                       .map(e => e.outerHTML),
              injected: document.querySelectorAll(
                          'img, script, iframe, object, embed, b:not(li > b)').length,
              noisy: [...document.querySelectorAll('li > b')].map(b => b.textContent),
              pwned: window.pwned === undefined ? null : window.pwned,
              cells: [...document.querySelectorAll('table')[0].querySelectorAll(
                        'tbody tr td:first-child')].map(td => td.textContent),
              plots: [...document.querySelectorAll('figure.plot svg')].length,
            };""")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert found["hrefs"] == [] and found["injected"] == 0, found
    assert found["pwned"] is None and errors == [], (found, errors)
    assert sorted(found["cells"]) == sorted(found["noisy"]) == sorted(HOSTILE)
    assert found["plots"] == 3
