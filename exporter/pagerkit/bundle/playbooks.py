"""Playbooks: markdown parsed with markdown-it-py, one ``##`` section per alert.

Anchors are computed as GitHub renders them (lower case, punctuation dropped, spaces to
hyphens, ``-1``, ``-2`` for repeats) by the same markdown-it instance that renders the
pages the exporter serves, so the validator and the served page cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin

from ..errors import UserError, read_text

PLAYBOOK_DIR = Path("playbooks")
SUBSECTIONS = ("Impact", "Diagnose", "Mitigate", "Escalate")
ALERT_HEADING = re.compile(r"^[A-Z][A-Za-z0-9]*$")
PLACEHOLDER = re.compile(r"^\W*(todo|tbd|fixme|xxx|placeholder|lorem ipsum|\.\.\.|…)\b",
                         re.IGNORECASE)
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.md$")
README = "README.md"


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading, before ``-1``, ``-2`` for repeats."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def markdown() -> MarkdownIt:
    """The renderer of the served pages."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    anchors_plugin(md, min_level=1, max_level=6, slug_func=github_slug)
    return md


@cache
def outline_parser() -> MarkdownIt:
    """The same parser for validation, with inline markup parsed only in headings (the
    anchors need it) and where a ``[`` may open a link (the validator follows links):
    a third faster on a thousand sections."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    anchors_plugin(md, min_level=1, max_level=6, slug_func=github_slug)
    md.core.ruler.at("inline", _inline_where_needed)
    return md


def _inline_where_needed(state: StateCore) -> None:
    for i, token in enumerate(state.tokens):
        heading = i and state.tokens[i - 1].type == "heading_open"
        if token.type == "inline" and (heading or "[" in token.content):
            token.children = []
            state.md.inline.parse(token.content, state.md, state.env, token.children)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str
    line: int


@dataclass(frozen=True)
class Link:
    """A link or image in a playbook: its target as written (percent-decoded) and line."""

    target: str
    line: int


@dataclass(frozen=True)
class Subsection:
    title: str
    line: int
    text: str
    """The subsection's content as plain text, code included."""


@dataclass(frozen=True)
class Section:
    """A ``##`` section named like an alert."""

    name: str
    anchor: str
    line: int
    subsections: tuple[Subsection, ...]


@dataclass(frozen=True)
class Playbook:
    path: str
    headings: tuple[Heading, ...]
    sections: tuple[Section, ...]
    links: tuple[Link, ...] = ()

    @cached_property
    def anchors(self) -> dict[str, Heading]:
        return {h.anchor: h for h in self.headings}


def parse_playbook(text: str, path: str) -> Playbook:
    tokens = outline_parser().parse(text)
    headings: list[Heading] = []
    blocks: list[tuple[Heading, list[str]]] = []
    links: list[Link] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "inline" and token.children:
            links += _links(token)
        if token.type == "heading_open":
            links += _links(tokens[i + 1]) if tokens[i + 1].children else []
            heading = Heading(int(token.tag[1]), tokens[i + 1].content.strip(),
                              str(token.attrs.get("id", "")), _line(token))
            headings.append(heading)
            blocks.append((heading, []))
            i += 3
            continue
        if blocks and token.content:
            blocks[-1][1].append(token.content)
        i += 1
    return Playbook(path, tuple(headings), tuple(_sections(blocks)), tuple(links))


def _line(token: Token) -> int:
    return token.map[0] + 1 if token.map else 1


def _links(inline: Token) -> list[Link]:
    """Every link and image of an inline token, each on its own line (a soft or hard
    break moves to the next)."""
    line, found = _line(inline), []
    for child in inline.children or []:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type in ("link_open", "image"):
            href = str(child.attrs.get("href" if child.type == "link_open" else "src", ""))
            found.append(Link(unquote(href), line))
    return found


def _sections(blocks: list[tuple[Heading, list[str]]]) -> list[Section]:
    sections: list[Section] = []
    current: tuple[Heading, list[Subsection]] | None = None
    for heading, texts in blocks:
        if heading.level <= 2 and current is not None:
            sections.append(_section(*current))
            current = None
        if heading.level == 2 and ALERT_HEADING.match(heading.text):
            current = (heading, [])
        elif heading.level == 3 and current is not None:
            current[1].append(Subsection(heading.text, heading.line, "\n".join(texts).strip()))
    if current is not None:
        sections.append(_section(*current))
    return sections


def _section(heading: Heading, subsections: list[Subsection]) -> Section:
    return Section(heading.text, heading.anchor, heading.line, tuple(subsections))


def load_playbooks(root: Path, readme: bool = False) -> dict[str, Playbook]:
    """Every ``playbooks/*.md`` by file name, README.md only if ``readme``; a file that is
    a folder, not UTF-8, or not a regular file inside the folder once its symlinks are
    resolved is a ``UserError`` naming it (the validator never reads, nor quotes, a file
    that a symlink brings in from elsewhere, and never waits on a fifo)."""
    folder = root / PLAYBOOK_DIR
    books = {}
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        if readme or path.name != README:
            name = str(PLAYBOOK_DIR / path.name)
            books[path.name] = parse_playbook(read_text(_regular_inside(folder, path, name),
                                                        name), name)
    return books


def _regular_inside(folder: Path, path: Path, name: str) -> Path:
    if path.is_dir():
        return path  # read_text names it as a folder
    target = inside(folder, path.name)
    if target is None:
        raise UserError(name, None, f"{name} leads outside {PLAYBOOK_DIR}/ (or nowhere) "
                                    "through a symlink; make it a regular file there or "
                                    "remove it")
    if not target.is_file():
        raise UserError(name, None, f"{name} is not a regular file; make it one or remove it")
    return target


def inside(folder: Path, name: str) -> Path | None:
    """``folder/name`` with every symlink resolved, when that exists and is inside
    ``folder`` (itself resolved); None otherwise (outside, dangling, a loop)."""
    try:
        root = folder.resolve(strict=True)
        path = (folder / name).resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return None
    return path if path.is_relative_to(root) and path != root else None


def section_problems(section: Section) -> list[tuple[int, str]]:
    """(line, message) for each required subsection that is missing, empty or a stub."""
    problems = []
    found = {s.title: s for s in section.subsections}
    for title in SUBSECTIONS:
        sub = found.get(title)
        if sub is None:
            problems.append((section.line, f"{section.name}: no '### {title}' subsection; "
                                            f"each section has {', '.join(SUBSECTIONS)}"))
        elif not sub.text:
            problems.append((sub.line, f"{section.name}: '### {title}' is empty"))
        elif PLACEHOLDER.match(sub.text):
            problems.append((sub.line, f"{section.name}: '### {title}' is a placeholder "
                                       f"({sub.text.splitlines()[0][:40]!r}); write it"))
    return problems


def render_html(text: str, title: str) -> str:
    """A playbook as a standalone HTML page whose headings carry their GitHub anchors."""
    body = markdown().render(text)
    return PAGE.format(title=_escape(title), body=body)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · pagerkit playbooks</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 50rem; margin: 1rem auto;
        padding: 0 1rem; color: #1b1b1b; }}
h2 {{ border-top: 1px solid #ccc; padding-top: 1rem; margin-top: 2.5rem; }}
:target {{ background: #fff6cc; }}
pre {{ background: #f4f4f4; padding: .75rem; overflow-x: auto; }}
code {{ font-size: 90%; }}
nav a {{ margin-right: 1rem; }}
</style></head>
<body><nav><a href="./">all playbooks</a></nav>
{body}</body></html>
"""


SKELETON = """## {name}

### Impact

TODO: what the customer feels, and how soon it matters.

### Diagnose

TODO: the PromQL, psql or rabbitmqctl to run, and what to look for in their output.

### Mitigate

TODO: what to do, safest first, with the commands.

### Escalate

TODO: when, and to whom; what to hand over.
"""


def add_section(root: Path, file: str, name: str) -> int:
    """Append a skeleton section for alert ``name`` to ``playbooks/<file>``; its line.

    The skeleton's TODOs are placeholders ``pagerkit validate`` reports until written.
    """
    path = root / PLAYBOOK_DIR / file
    text = read_text(path, str(PLAYBOOK_DIR / file)) if path.exists() else \
        f"# {file.removesuffix('.md').capitalize()}\n"
    existing = next((s for s in parse_playbook(text, str(path)).sections if s.name == name),
                    None)
    if existing is not None:
        raise FileExistsError(existing.line)
    text = text.rstrip("\n") + "\n\n"
    line = text.count("\n") + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + SKELETON.format(name=name), encoding="utf-8")
    return line
