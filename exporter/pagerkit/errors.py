"""Errors the user fixes: they print as ``path:line: message`` and exit 2."""

from __future__ import annotations


class UserError(Exception):
    """A bad config, spec or argument: the user's to fix, never a traceback.

    ``line`` is 1-based; ``None`` when the problem has no line (a missing file).
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"
