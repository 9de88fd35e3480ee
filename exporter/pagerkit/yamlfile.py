"""YAML documents that remember where each value came from.

PyYAML keeps the last of two duplicate keys silently and forgets line numbers once a
document is constructed; Prometheus and Alertmanager refuse duplicates. Here the node
tree is walked once: duplicates are refused, and every value's path gets its line, so
a schema error can name ``file:line``.

Aliases are refused: no spec or config needs them, and a few hundred bytes of nested
aliases ("billion laughs") expand to gigabytes in every walk over the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError, read_text

PathKey = tuple[str | int, ...]

# libyaml's parser when PyYAML has it: the same nodes and marks, several times faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed document, its file name and the 1-based line of every path in it."""

    path: str
    data: Any
    lines: dict[PathKey, int]

    def line_of(self, key: PathKey) -> int:
        """The line of ``key``, or of its nearest ancestor that has one."""
        probe = tuple(key)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)

    def error(self, key: PathKey, message: str) -> UserError:
        return UserError(self.path, self.line_of(key), message)


def load_yaml(path: str | Path, name: str | None = None) -> YamlDocument:
    """Read and parse ``path``; a missing file or bad YAML is a ``UserError`` naming the
    file as ``name`` (default: the path), such as a path relative to the repository."""
    name = name or str(path)
    return parse_yaml(read_text(path, name), name)


def parse_yaml(text: str, name: str) -> YamlDocument:
    """Parse one YAML document; an empty document is an empty mapping."""
    try:
        _refuse_aliases(text, name)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(name, exc) from None
    except yaml.YAMLError as exc:
        raise UserError(name, None, f"invalid YAML: {exc}") from None
    if node is None:
        return YamlDocument(name, {}, {(): 1})
    lines: dict[PathKey, int] = {}
    try:
        _walk(node, (), lines, name)
    except RecursionError:
        raise UserError(name, None, "the document is nested too deeply to be a config or "
                                    "a spec; flatten it") from None
    loader = _Loader(text)
    try:
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise UserError(name, line, f"invalid YAML: {exc.problem}") from None
    finally:
        loader.dispose()
    return YamlDocument(name, data, lines)


def _refuse_aliases(text: str, name: str) -> None:
    """A ``UserError`` at the first alias (``*name``, merge keys ``<<: *name`` too).

    Only a document with an ``&`` can define an anchor, and an alias without its anchor
    is already a parse error, so most documents are never scanned twice."""
    if "&" not in text:
        return
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise UserError(name, mark.line + 1 if mark is not None else None,
                            f"YAML aliases (*{event.anchor}) are not supported: a few "
                            "nested aliases can expand to gigabytes; write the value out "
                            "where it is used")


def safe_value(path: str | Path, key: str) -> Any:
    """The top-level ``key`` of a YAML file, or None when the file is missing, unreadable,
    invalid or uses aliases: for a caller that must work even when the file is broken
    (``pagerkit ack`` at 3 a.m.), never at the cost of memory."""
    try:
        data = parse_yaml(read_text(path), str(path)).data
    except UserError:
        return None
    return data.get(key) if isinstance(data, dict) else None


def _marked_error(name: str, exc: yaml.MarkedYAMLError) -> UserError:
    """The line where the parser noticed, and where the construct it was reading began."""
    mark = exc.problem_mark
    line = mark.line + 1 if mark is not None else None
    message = f"invalid YAML: {exc.problem}"
    context = exc.context_mark
    if exc.context and context is not None and context.line + 1 != line:
        message += f" ({exc.context} that starts on line {context.line + 1})"
    return UserError(name, line, message)


def _walk(node: yaml.Node, key: PathKey, lines: dict[PathKey, int], name: str) -> None:
    lines[key] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise UserError(name, key_node.start_mark.line + 1,
                                "YAML merge keys (<<) are not supported; repeat the keys")
            child = str(key_node.value)
            line = key_node.start_mark.line + 1
            if child in seen:
                raise UserError(name, line, f"duplicate key {child!r} (first defined on line "
                                            f"{seen[child]}); keep one of them")
            seen[child] = line
            _walk(value_node, (*key, child), lines, name)
            lines[(*key, child)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*key, index), lines, name)


# libyaml's emitter (when PyYAML has it) writes the same bytes as the pure-Python one in
# this style, ten times faster: a bundle of 1,000 alerts is dumped in milliseconds.
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Block style, multi-line strings as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    """YAML for a generated file: block style, keys in the given order, stable bytes."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
