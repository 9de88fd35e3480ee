"""Secrets: read from the environment or a file, printed as ``***``, scrubbed from logs."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")
_SECRET_KEY = re.compile(r"password|token|secret|user_key|signing_key|api_key|routing_key|"
                         r"dsn|webhook_url")


@dataclass(frozen=True)
class Secret:
    """A value that must never reach metrics, logs or error messages."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"


class MissingVariable(LookupError):
    """An ``${NAME}`` reference to a variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand_env(text: str, environ: dict[str, str]) -> str:
    """Replace each ``${NAME}`` by its value, ``${NAME:-default}`` by its value or the
    default when unset or empty (as a shell does); ``$${`` stays a literal ``${``."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if environ.get(name):
            return environ[name]
        if default is not None:
            return default
        if name in environ:
            return ""
        raise MissingVariable(name)

    parts = text.split("$${")
    return "${".join(_REF.sub(substitute, part) for part in parts)


def is_secret_key(name: str | int) -> bool:
    """A key whose value is (or holds) a secret: ``password``, ``auth_token``, a DSN, a
    chat webhook URL. ``*_file`` keys name a file, which is not secret."""
    return isinstance(name, str) and not name.endswith("_file") and \
        _SECRET_KEY.search(name) is not None


def only_references(text: str) -> bool:
    """True when ``text`` is made of ``${VAR}`` references only (each may carry a
    ``:-default``), so that no secret is written in the file itself."""
    return bool(text.strip()) and not _REF.sub("", text).strip()


def scrub_userinfo(text: str) -> str:
    """``amqp://user:pass@host`` as ``amqp://***@host``, wherever a URL is in ``text``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def read_secret_file(path: str) -> str:
    """The file's content without its trailing newline (as Prometheus reads ``*_file``)."""
    return Path(path).read_text(encoding="utf-8").rstrip("\r\n")


class Redactor:
    """Scrubs every known secret value out of a text, as a last line of defence."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: Secret) -> None:
        value = secret.reveal()
        if len(value) >= 3:  # shorter values would scrub ordinary words
            with self._lock:
                self._values.add(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, "***")
        # URLs with userinfo (``amqp://user:pass@host``) are scrubbed whether known or not.
        return scrub_userinfo(text)


REDACTOR = Redactor()
"""Process-wide: every secret the config resolves is registered here for the log filter."""
