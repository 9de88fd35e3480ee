"""Errors the user fixes: they print as ``path:line: message`` and exit 2."""

from __future__ import annotations

from pathlib import Path

from .secrets import REDACTOR


class UserError(Exception):
    """A bad config, spec or argument: the user's to fix, never a traceback.

    ``line`` is 1-based; ``None`` when the problem has no line (a missing file). The
    message is scrubbed of every secret known so far and of URL userinfo, as a last line
    of defence: the code that writes a message should not quote a secret in the first
    place.
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        message = REDACTOR.scrub(message)
        super().__init__(message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {REDACTOR.scrub(self.message)}"


def read_text(path: str | Path, name: str | None = None) -> str:
    """A file a person wrote, as text; a folder, an unreadable file or bytes that are not
    UTF-8 are a ``UserError`` naming the file as ``name`` (and the line of the first bad
    byte), never a traceback."""
    name = name or str(path)
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise UserError(name, None, "is a folder, not a file; give the path of the file") \
            from None
    except OSError as exc:
        raise UserError(name, None, f"cannot read the file: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(name, line, f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                                    f"at offset {exc.start}); save it as UTF-8") from None
