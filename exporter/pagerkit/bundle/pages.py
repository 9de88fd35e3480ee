"""The playbooks as web pages: ``/playbooks/<file>.md`` rendered to HTML for the exporter to
serve, so that an alert's runbook_url opens where it points without a wiki.

Only regular files that are inside the playbooks folder once every symlink is resolved are
served or listed: a careless ``ln -s /proc/self/environ playbooks/env.md`` would otherwise
hand the exporter's environment, passwords included, to anyone who can reach the port. A
symlink that stays inside the folder is fine.
"""

from __future__ import annotations

import html
import logging
import os
import stat
from pathlib import Path

from .playbooks import FILE_NAME, inside, render_html

log = logging.getLogger("pagerkit.http")

MAX_BYTES = 4 * 1024 * 1024
"""A playbook is a few pages of text; a larger file is not one, and rendering it would hold
a serving thread for nothing."""


class PlaybookPages:
    """``/playbooks/<file>.md`` rendered to HTML, headings carrying their GitHub anchors,
    so an alert's runbook_url opens where it points without a wiki."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple[int, int, int, int], bytes]] = {}
        self._refused: set[str] = set()

    def page(self, name: str) -> bytes | None:
        """The page, or None when there is no such playbook or it may not be served."""
        if name in ("", "index.html"):
            return self._index()
        if not FILE_NAME.match(name):
            return None  # also refuses any path with a slash or ..
        read = self._read(name)
        if read is None:
            return None
        version, text = read
        cached = self._cache.get(name)
        if cached is None or cached[0] != version:
            cached = (version, render_html(text, _title(text, name)).encode())
            self._cache[name] = cached
        return cached[1]

    def _index(self) -> bytes:
        items = []
        for path in sorted(self.folder.glob("*.md")):
            read = self._read(path.name) if FILE_NAME.match(path.name) else None
            if read is not None:
                title = _title(read[1], path.name)
                items.append(f'<li><a href="{html.escape(path.name)}">{html.escape(title)}'
                             "</a></li>")
        return render_html("", "Playbooks").replace(
            "</nav>", f"</nav><h1>Playbooks</h1><ul>{''.join(items)}</ul>").encode()

    def _read(self, name: str) -> tuple[tuple[int, int, int, int], str] | None:
        """The file's version (device, inode, size, mtime) and text, when it may be served."""
        path = inside(self.folder, name)
        if path is None:
            if os.path.lexists(self.folder / name):  # a missing page is no news
                self._refuse(name, "leads outside the playbooks folder, or nowhere")
            return None
        try:
            # O_NOFOLLOW: the checked path cannot become a symlink before it is opened;
            # O_NONBLOCK: a fifo is refused below instead of blocking the thread
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
                self._refuse(name, f"is not a regular file of at most {MAX_BYTES} bytes")
                return None
            with open(fd, "rb", closefd=False) as file:
                data = file.read(MAX_BYTES)
        finally:
            os.close(fd)
        self._refused.discard(name)
        version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        return version, data.decode("utf-8", errors="replace")

    def _refuse(self, name: str, why: str) -> None:
        """Logged once per name until it is served again: the operator learns why a page
        is missing without a line per request."""
        if name not in self._refused:
            self._refused.add(name)
            log.warning("playbooks: not serving %s: it %s", name, why)


def _title(text: str, fallback: str) -> str:
    first = next((line for line in text.splitlines() if line.startswith("# ")), "")
    return first[2:].strip() or fallback
