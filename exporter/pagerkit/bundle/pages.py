"""The playbooks as web pages: ``/playbooks/<file>.md`` rendered to HTML for the exporter to
serve, so that an alert's runbook_url opens where it points without a wiki."""

from __future__ import annotations

import html
from pathlib import Path

from .playbooks import FILE_NAME, render_html


class PlaybookPages:
    """``/playbooks/<file>.md`` rendered to HTML, headings carrying their GitHub anchors,
    so an alert's runbook_url opens where it points without a wiki."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[float, bytes]] = {}

    def page(self, name: str) -> bytes | None:
        if name in ("", "index.html"):
            return self._index()
        if not FILE_NAME.match(name):
            return None  # also refuses any path with a slash or ..
        path = self.folder / name
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._cache.get(name)
        if cached is None or cached[0] != mtime:
            text = path.read_text(encoding="utf-8", errors="replace")
            cached = (mtime, render_html(text, _title(text, name)).encode())
            self._cache[name] = cached
        return cached[1]

    def _index(self) -> bytes:
        items = []
        for path in sorted(self.folder.glob("*.md")):
            if FILE_NAME.match(path.name):
                title = _title(path.read_text(errors="replace"), path.name)
                items.append(f'<li><a href="{html.escape(path.name)}">{html.escape(title)}'
                             "</a></li>")
        return render_html("", "Playbooks").replace(
            "</nav>", f"</nav><h1>Playbooks</h1><ul>{''.join(items)}</ul>").encode()


def _title(text: str, fallback: str) -> str:
    first = next((line for line in text.splitlines() if line.startswith("# ")), "")
    return first[2:].strip() or fallback
