"""Pure: the samples of a few named families out of a Prometheus text exposition.

The ``rabbitmq_prometheus`` plugin answers ``/metrics/detailed`` with three samples per
queue: at 10,000 queues, 30,000 lines. prometheus-client's parser builds a ``Metric`` and
a ``Sample`` for every line of every family and took 1.36 s for 50,000 samples here; a
scrape needs three families out of the body and the two labels of each line. So:

- a family's lines are found by its ``# TYPE`` line (the text format keeps a family's
  lines together), and only that stretch of the body is scanned, with one regular
  expression anchored on the wanted sample names; without a ``# TYPE`` line for a name
  the whole body is scanned;
- the plugin writes a queue's labels as ``vhost="...",queue="..."``: ``queue_values``
  reads exactly that shape with one expression for the whole stretch (in C), and checks
  that it read every line that claims a wanted name; if not (another label order, a
  label more), the stretch is read again by the general ``parse``, whose label text is
  parsed once and shared by the lines that repeat it;
- escapes are undone only in values that hold a backslash, exactly as prometheus-client
  does (``\\\\``, ``\\n`` and ``\\"``; any other backslash is kept as written).

A line that starts with a wanted name and does not parse (a value that is not a number,
labels without quotes) is counted in ``Parsed.invalid``, never silently dropped. The
tests hold this parser to prometheus-client's on generated expositions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

Labels = dict[str, str]

_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
                    r'[ \t]*(?:,|$)')
_ESCAPE = re.compile(r'\\[\\n"]')
_UNESCAPED = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


@dataclass
class Parsed:
    """The wanted samples by name, as ``(labels, value)`` in the order of the body."""

    samples: dict[str, list[tuple[Labels, float]]]
    invalid: int = 0
    names_seen: set[str] = field(default_factory=set)
    """Wanted names that had a ``# TYPE`` line, even with no sample (a family may be
    empty: no queues on the node)."""


def parse(text: str, names: Collection[str]) -> Parsed:
    """The samples of ``names`` (sample names, as written on the lines) in ``text``."""
    wanted = frozenset(names)
    line = _line_pattern(wanted)
    out = Parsed({name: [] for name in wanted})
    cache: dict[str, Labels | None] = {}
    for begin, end in _stretches(text, wanted, out.names_seen):
        rows = line.findall(text, begin, end)
        out.invalid += _claimed(text, wanted, begin, end) - len(rows)
        for name, raw, value in rows:
            labels = cache[raw] if raw in cache else _labels(raw, cache)
            try:
                number = float(value)
            except ValueError:
                number = None
            if labels is None or number is None or "_" in value:
                out.invalid += 1
            else:
                out.samples[name].append((labels, number))
    return out


def _claimed(text: str, names: frozenset[str], begin: int, end: int) -> int:
    """Lines in ``text[begin:end]`` that start with a wanted name and then ``{``, a space
    or a tab: each claims to be a sample (counted with ``str.count``, in C)."""
    count = 0
    for name in names:
        for after in "{ \t":
            count += text.count(f"\n{name}{after}", begin, end)
            if begin == 0 and text.startswith(f"{name}{after}"):
                count += 1
    return count


QueueKey = tuple[str, str]


@dataclass
class QueueTable:
    """Per wanted name, each row's value by row key; and each row key's ``(vhost,
    queue)``. A row key is the line's label text (the three lines of a queue repeat it,
    so the families join on it without building a tuple per line), or the ``(vhost,
    queue)`` itself when the lines had to be read one by one."""

    values: dict[str, dict[Any, float]]
    queues: dict[Any, QueueKey]
    invalid: int = 0


def queue_values(text: str, names: Collection[str]) -> QueueTable:
    """The wanted families' values per queue, and the lines that claim a wanted name but
    do not parse or lack either label (skipped, counted)."""
    values: dict[str, dict[Any, float]] = {}
    for name in names:
        found = _one_queue_family(text, name)
        if found is None:
            return _queue_values_slowly(text, names)
        values[name] = found
    keys = list(set().union(*values.values()))
    pairs = _QUEUE_LABELS.findall("\n".join(keys))
    if len(pairs) != len(keys):  # cannot happen: every key matched the same expression
        return _queue_values_slowly(text, names)
    if any("\\" in key for key in keys):
        pairs = [(_unescaped(v), _unescaped(q)) for v, q in pairs]
    return QueueTable(values, dict(zip(keys, pairs, strict=True)))


@dataclass
class QueueColumns:
    """The wanted families' values in one order: ``queues[i]`` is the ``(vhost, queue)``
    of ``values[name][i]`` for every name, whose label text was ``labels[i]``."""

    queues: list[QueueKey]
    values: dict[str, list[float]]
    labels: tuple[str, ...] = ()


def queue_columns(text: str, names: Collection[str], known: QueueColumns | None = None
                  ) -> QueueColumns | None:
    """The fast path of ``queue_values``, for the plugin's own answer: every family lists
    the same queues once each, so the values are read as columns in the first family's
    order. A family in that same order (the plugin walks one table for ready and
    unacknowledged) is taken as it is; one in another order (the consumer counts come
    from another table) is put in it through one dict. None when a family lists other
    queues, one twice, or a line of another shape: ``queue_values`` then reads the text.
    ``known``: the node's last answer read so; when it listed the same queues in the same
    order, their names are not read again."""
    labels: tuple[str, ...] | None = None
    values: dict[str, list[float]] = {}
    for name in names:
        rows = _queue_rows(text, name)
        if rows is None:
            return None
        these, numbers = zip(*rows, strict=True) if rows else ((), ())
        floats = _floats(numbers)
        if floats is None:
            return None
        if labels is None or these == labels:
            labels = these
        else:
            by_label = dict(zip(these, floats, strict=True))
            if len(these) != len(labels) or len(by_label) != len(these):
                return None
            if not all(map(by_label.__contains__, labels)):  # a queue it does not list
                return None
            floats = list(map(by_label.__getitem__, labels))
        values[name] = floats
    if labels is None:
        return QueueColumns([], {})
    if known is not None and known.labels == labels:
        pairs = known.queues
    else:
        pairs = _QUEUE_LABELS.findall("\n".join(labels))
        if len(pairs) != len(labels) or len(set(labels)) != len(labels):
            return None
        if "\\" in "".join(labels):
            pairs = [(_unescaped(v), _unescaped(q)) for v, q in pairs]
    return QueueColumns(pairs, values, labels)


def _queue_rows(text: str, name: str) -> list[tuple[str, str]] | None:
    """A family's ``(label text, value text)`` rows, read in C; None when a line that
    claims the name has another shape."""
    begin, end = _stretches(text, frozenset((name,)), set())[0]
    claimed = _claimed(text, frozenset((name,)), begin, end)
    for pattern in (_plain_queue_pattern(name), _queue_pattern(name)):
        rows: list[tuple[str, str]] = pattern.findall(text, begin, end)
        if len(rows) == claimed:
            return rows
    return None


def _floats(numbers: tuple[str, ...]) -> list[float] | None:
    """The values, or None when one is not a number or has an underscore (which
    ``float`` takes and the text format does not)."""
    if "_" in "".join(numbers):
        return None
    try:
        return list(map(float, numbers))
    except ValueError:
        return None


def _one_queue_family(text: str, name: str) -> dict[Any, float] | None:
    """One family's values by label text, read in C (``findall``, ``zip``, ``map``);
    None when a line has another shape or a value is not a number."""
    rows = _queue_rows(text, name)
    if rows is None:
        return None
    if not rows:
        return {}
    labels, numbers = zip(*rows, strict=True)
    floats = _floats(numbers)
    return None if floats is None else dict(zip(labels, floats, strict=True))


def _queue_values_slowly(text: str, names: Collection[str]) -> QueueTable:
    parsed = parse(text, names)
    table = QueueTable({name: {} for name in names}, {}, parsed.invalid)
    for name, samples in parsed.samples.items():
        for labels, value in samples:
            if "vhost" in labels and "queue" in labels:
                key = (labels["vhost"], labels["queue"])
                table.values[name][key] = value
                table.queues[key] = key
            else:
                table.invalid += 1
    return table


_VALUE = r'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
_QUEUE_LABELS = re.compile(rf"^vhost={_VALUE},queue={_VALUE}$", re.MULTILINE)


@functools.lru_cache(maxsize=32)
def _plain_queue_pattern(name: str) -> re.Pattern[str]:
    """``_queue_pattern`` for the plugin's usual lines: no escape in the labels, one space
    before the value and no timestamp. A third faster; when a line is not so plain, the
    count falls short and ``_queue_pattern`` reads the family again."""
    label = r'"[^"\\\n]*"'
    return re.compile(rf"^{re.escape(name)}\{{(vhost={label},queue={label})\}} ([^ \t\n]+)$",
                      re.MULTILINE)


@functools.lru_cache(maxsize=32)
def _queue_pattern(name: str) -> re.Pattern[str]:
    """A sample line as the plugin writes a queue's: exactly ``vhost`` then ``queue``;
    the label text is kept whole."""
    label = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
    return re.compile(rf"^{re.escape(name)}\{{(vhost={label},queue={label})\}}"
                      r"[ \t]+([^ \t\n]+)(?:[ \t]+-?[0-9]+)?[ \t]*$", re.MULTILINE)


def _alternatives(names: frozenset[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


@functools.lru_cache(maxsize=32)
def _line_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """A whole sample line of one of ``names``: name, label text, value, and an optional
    timestamp. The label text runs to the line's last ``}``: a quoted value may hold a
    ``}``, and a line holds no raw newline (it is escaped as ``\\n``)."""
    return re.compile(rf"^({_alternatives(names)})(?:\{{([^\n]*)\}})?[ \t]+([^ \t\n]+)"
                      r"(?:[ \t]+-?[0-9]+)?[ \t]*$", re.MULTILINE)


def _stretches(text: str, names: frozenset[str], seen: set[str]) -> list[tuple[int, int]]:
    """The parts of ``text`` that hold the wanted families: from each one's ``# TYPE``
    line to the next ``# TYPE`` line; the whole text when a name has none."""
    found: list[tuple[int, int]] = []
    for name in names:
        at = _type_line(text, name)
        if at < 0:
            return [(0, len(text))]
        seen.add(name)
        end = text.find("\n# TYPE ", at + 1)
        found.append((at, len(text) if end < 0 else end + 1))
    return _merged(found)


def _type_line(text: str, name: str) -> int:
    marker = f"# TYPE {name} "
    if text.startswith(marker):
        return 0
    at = text.find("\n" + marker)
    return at if at < 0 else at + 1


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping stretches scanned once, so that no line is counted twice."""
    out: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((begin, end))
    return out


def _labels(raw: str, cache: dict[str, Labels | None]) -> Labels | None:
    """The labels of a line's label text (cached), None when they do not parse."""
    labels: Labels | None = {}
    pos = 0
    size = len(raw.rstrip(" \t"))
    while pos < size:
        m = _LABEL.match(raw, pos)
        if m is None or m.end() == pos:
            labels = None
            break
        value = m.group(2)
        assert labels is not None
        labels[m.group(1)] = _unescaped(value) if "\\" in value else value
        pos = m.end()
    cache[raw] = labels
    return labels


def _unescaped(value: str) -> str:
    return _ESCAPE.sub(_unescape, value)


def _unescape(m: re.Match[str]) -> str:
    return _UNESCAPED[m.group(0)]
