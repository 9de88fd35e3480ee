"""JSON Schema validation that speaks in ``file:line: what to write instead``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError

from .durations import parse_duration
from .errors import UserError
from .secrets import (
    REDACTOR,
    MissingVariable,
    Secret,
    expand_env,
    is_secret_key,
    only_references,
    read_secret_file,
    scrub_userinfo,
)
from .yamlfile import PathKey, YamlDocument


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in ``pagerkit/schemas``."""
    text = resources.files("pagerkit").joinpath("schemas", name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate(doc: YamlDocument, schema_name: str, value: Any, key: PathKey = ()) -> None:
    """Raise a ``UserError`` for the first problem (in file order) of ``value`` at ``key``."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    errors = list(validator.iter_errors(value))
    if not errors:
        return
    def position(error: ValidationError) -> tuple[int, int]:
        return doc.line_of((*key, *error.absolute_path)), -len(error.absolute_path)
    first = min(errors, key=position)
    raise doc.error(_error_key(first, key), describe(first, key))


def _error_key(error: ValidationError, key: PathKey) -> PathKey:
    path = (*key, *error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return (*path, extra[0])
    return path


def dotted(path: PathKey) -> str:
    """``sources[0].queries[1].sql``: how a person names a place in the file."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def describe(error: ValidationError, key: PathKey) -> str:
    """One sentence: where, what is wrong, and the shape expected; the value of a
    secret-bearing key (a password, a token, a DSN) is never quoted, nor URL userinfo."""
    path = (*key, *error.absolute_path)
    where = dotted(path)
    secret = any(is_secret_key(part) for part in path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        return (f"unknown key {extra[0]!r} in {where}; the keys allowed here are: "
                f"{', '.join(allowed)}")
    if kind == "required":
        missing = str(error.message).split("'")[1]
        return f"{where} is missing the required key {missing!r}"
    if kind == "type":
        return (f"{where} must be {_article(str(error.validator_value))}, "
                f"not {_type_name(error.instance, secret)}")
    if kind == "enum":
        choices = ", ".join(json.dumps(v) for v in cast(list[Any], error.validator_value))
        return f"{where} is {_shown(error.instance, secret)}; it must be one of {choices}"
    if kind == "const":
        return f"{where} must be {json.dumps(error.validator_value)}"
    if kind == "pattern":
        hint = schema.get("description") or _pattern_hint(str(error.validator_value))
        return f"{where} is {_shown(error.instance, secret)}, which is not valid: {hint}"
    if kind == "oneOf" and isinstance(error.instance, dict):
        names = [name for sub in cast(list[Any], error.validator_value)
                 for name in sub.get("required", [])]
        return f"{where} needs exactly one of {' or '.join(names)}"
    if kind == "not" and isinstance(error.instance, dict):
        return f"{where} sets both password and password_file; keep only one of them"
    if kind in ("minItems", "minLength"):
        return f"{where} must not be empty"
    if kind == "minimum":
        return (f"{where} is {_shown(error.instance, secret)}; it must be at least "
                f"{error.validator_value}")
    if kind == "uniqueItems":
        return f"{where} lists the same item twice; list each once"
    message = error.message.replace(repr(error.instance), repr(_redacted(error.instance, secret)))
    return f"{where}: {scrub_userinfo(message)}"


def _shown(value: Any, secret: bool) -> str:
    """A value as a message quotes it: a secret's not at all, a URL's without userinfo."""
    if secret:
        return "a value not shown here (it is a secret)"
    return scrub_userinfo(json.dumps(value))


def _redacted(value: Any, secret: bool) -> Any:
    """``value`` with the values of secret-bearing keys, at any depth, as ``***``."""
    if isinstance(value, dict):
        return {k: _redacted(v, secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secret) for v in value]
    return "***" if secret and value is not None else value


def _pattern_hint(pattern: str) -> str:
    if "ms|s|m|h" in pattern:
        return "write a duration such as 500ms, 30s, 5m or 1h30m"
    if pattern.startswith("^[a-zA-Z_"):
        return "use letters, digits and underscores, not starting with a digit"
    return f"it must match {pattern}"


def _article(type_name: str) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string",
             "integer": "an integer", "number": "a number", "boolean": "true or false"}
    return names.get(type_name, type_name)


def _type_name(value: Any, secret: bool = False) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        return "a number (not shown here: it is a secret)" if isinstance(value, (int, float)) \
            else "a string (not shown here: it is a secret)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the string {scrub_userinfo(json.dumps(value))}"


@dataclass
class ParseContext:
    """What a source's parser needs: the document, where the source is, and the environment."""

    doc: YamlDocument
    key: PathKey
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def base_dir(self) -> Path:
        return Path(self.doc.path).resolve().parent

    def error(self, sub: PathKey, message: str) -> UserError:
        return self.doc.error((*self.key, *sub), message)

    def duration(self, raw: dict[str, Any], name: str, default: float) -> float:
        return parse_duration(raw[name]) if name in raw else default

    def expand(self, raw: dict[str, Any], name: str) -> str:
        """A string field with ``${VAR}`` references expanded; a missing one names the key."""
        try:
            return expand_env(str(raw[name]), self.environ)
        except MissingVariable as missing:
            raise self.error((name,), f"{dotted((*self.key, name))} refers to the environment "
                                      f"variable {missing.name}, which is not set; set it or "
                                      f"use {name}_file") from None

    def secret(self, raw: dict[str, Any], name: str, *, inline: bool = False
               ) -> Secret | None:
        """``name`` from a ``${VAR}`` reference or ``name_file``; registered for redaction.

        A value written in the file itself is refused unless ``inline``: a config is
        copied, pasted and checked in, and its secrets with it."""
        if name in raw:
            if not inline and not only_references(str(raw[name])):
                raise self.error((name,), inline_secret_message(dotted((*self.key, name)),
                                                                name))
            secret = Secret(self.expand(raw, name))
        elif f"{name}_file" in raw:
            secret = Secret(self._read_file(raw, f"{name}_file"))
        else:
            return None
        REDACTOR.add(secret)
        return secret

    def path(self, raw: dict[str, Any], name: str) -> Path:
        """A file path relative to the config file's folder."""
        return self.base_dir / self.expand(raw, name)

    def _read_file(self, raw: dict[str, Any], name: str) -> str:
        path = self.path(raw, name)
        try:
            return read_secret_file(str(path))
        except IsADirectoryError:
            raise self.error((name,), f"{dotted((*self.key, name))}: {path} is a folder; "
                                      "name the file that holds the secret") from None
        except OSError as exc:
            raise self.error((name,), f"{dotted((*self.key, name))}: cannot read {path}: "
                                      f"{exc.strerror}; check the path and its permissions"
                             ) from None
        except UnicodeDecodeError:
            raise self.error((name,), f"{dotted((*self.key, name))}: {path} is not UTF-8 "
                                      "text") from None


def inline_secret_message(where: str, name: str) -> str:
    """Why a secret written in a config is refused, and the two ways to give it."""
    return (f"{where} is written in the file (its value is not shown here); secrets come "
            f"only from the environment or a file: write {name}: ${{VAR}} and set VAR, or "
            f"{name}_file: /path/to/a/file")
