"""Building metric families, shared by every collector and the engine."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

_SURROGATE = re.compile("[\ud800-\udfff]")

Samples = Iterable[tuple[dict[str, str], float]]


def gauge(name: str, doc: str, samples: Samples, source: str) -> Metric:
    """A gauge family; every sample gets the ``source`` label first."""
    return _fill(GaugeMetricFamily(name, doc, labels=()), "", samples, source)


def counter(name: str, doc: str, samples: Samples, source: str) -> Metric:
    """A counter family; ``name`` ends in ``_total``, as do its samples."""
    return _fill(CounterMetricFamily(name, doc, labels=()), "_total", samples, source)


class LabelRows:
    """The label sets of many objects, column by column: a list holds one value per
    object, a string is the same for every object. The families of the same objects
    share one ``LabelRows``, which formats each object's label text once for all of them.
    Every value must be clean already (see ``clean_label_value``)."""

    def __init__(self, columns: dict[str, Sequence[str] | str]) -> None:
        self.columns = columns
        sizes = {len(c) for c in columns.values() if not isinstance(c, str)}
        if len(sizes) > 1:
            raise ValueError(f"label columns of different lengths: {sorted(sizes)}")
        self.size = sizes.pop() if sizes else 0
        self._texts: list[str] | None = None

    def __len__(self) -> int:
        return self.size

    def dicts(self) -> list[dict[str, str]]:
        """One label dict per object (for prometheus-client's own encoders)."""
        names = list(self.columns)
        columns = [repeat(c, self.size) if isinstance(c, str) else c
                   for c in self.columns.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

    def texts(self) -> list[str]:
        """Each object's labels as the text formats write them: ``{a="x",b="y"}``, names
        sorted, values escaped. Formatted in C (``str.format`` over the columns)."""
        if self._texts is None:
            if not self.columns:
                self._texts = [""] * self.size
                return self._texts
            parts, columns = [], []
            for name in sorted(self.columns):
                column = self.columns[name]
                if isinstance(column, str):
                    parts.append(f'{name}="{escape_label_value(column)}"'
                                 .replace("{", "{{").replace("}", "}}"))
                else:
                    joined = "".join(column)
                    if "\\" in joined or "\n" in joined or '"' in joined:
                        column = list(map(escape_label_value, column))
                    parts.append(f'{name}="{{}}"')
                    columns.append(column)
            template = "{{" + ",".join(parts) + "}}"
            self._texts = list(map(template.format, *columns)) if columns \
                else [template.format()] * self.size
        return self._texts


class ColumnGauge(GaugeMetricFamily):
    """A gauge of many objects, kept as columns: the objects' ``LabelRows`` and one value
    each. The exposition encoder writes it without a ``Sample`` per object; its
    ``samples`` are made only when something else reads them."""

    _samples: list[Sample] | None = None

    def __init__(self, name: str, doc: str, rows: LabelRows, values: Sequence[float]) -> None:
        if len(values) != len(rows):
            raise ValueError(f"{name}: {len(values)} values for {len(rows)} label sets")
        super().__init__(name, doc, labels=())
        self.rows = rows
        self.values = values
        setattr(self, CLEAN, True)

    @property
    def samples(self) -> list[Sample]:
        if self._samples is None:
            self._samples = [Sample(self.name, labels, float(value), None, None, None)
                             for labels, value in zip(self.rows.dicts(), self.values,
                                                      strict=True)]
        return self._samples

    @samples.setter
    def samples(self, samples: list[Sample]) -> None:
        self._samples = samples or None  # Metric() sets []


def escape_label_value(value: str) -> str:
    """A label value as the text formats quote it: backslash, newline and double quote
    escaped."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


CLEAN = "_pagerkit_clean"
"""Marks a family whose label values are known to be clean."""


def per_source(make: Callable[[str, str, Samples, str], Metric], name: str, doc: str,
               rows: Iterable[tuple[str, dict[str, str], float]]) -> Metric:
    """One family whose samples come from several sources: ``(source, labels, value)``."""
    family = make(name, doc, [], "")
    suffix = "_total" if family.type == "counter" else ""
    for source, labels, value in rows:
        family.add_sample(family.name + suffix, {"source": source, **labels}, value)
    return family


def _fill(family: Metric, suffix: str, samples: Samples, source: str) -> Metric:
    for labels, value in samples:
        # A label dict that already carries the source is used as is: families that share
        # one dict per object (a queue's ready, unacked, consumers) are encoded faster.
        if labels.get("source") != source:
            labels = {"source": source, **labels}
        family.add_sample(family.name + suffix, labels, float(value))
    return family


def clean_label_value(value: str) -> str:
    """A label value the exposition can always encode: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)


def sanitize(families: Iterable[Metric]) -> list[Metric]:
    """Families safe to encode: label values cleaned, same-name families merged.

    Two sources export the same family (each sample has its own ``source``); two raw
    values can clean to the same text. A repeated series or a name reused with another
    type would make the whole exposition invalid, so the first one wins. Collectors
    emit unique series themselves, so repeats are only looked for where a family was
    merged or a value cleaned: the common case costs one ``isascii`` per value.
    """
    merged: dict[str, list[Metric]] = {}
    for family in families:
        merged.setdefault(family.name, []).append(family)
    out = []
    for parts in merged.values():
        first = parts[0]
        if len(parts) == 1 and getattr(first, CLEAN, False):
            out.append(first)
            continue
        same = [p for p in parts if p.type == first.type]
        cleaned = [_clean_samples(p) for p in same]
        if len(same) == 1 and not cleaned[0][1]:
            out.append(first)
            continue
        target = Metric(first.name, first.documentation, first.type, first.unit)
        target.samples = _unique(s for samples, _ in cleaned for s in samples)
        out.append(target)
    return out


def _clean_samples(family: Metric) -> tuple[list[Sample], bool]:
    """The family's samples with clean label values, and whether any had to change."""
    changed = False
    samples = family.samples
    for i, sample in enumerate(samples):
        if all(v.isascii() for v in sample.labels.values()):
            continue
        labels = {k: clean_label_value(v) for k, v in sample.labels.items()}
        if labels != sample.labels:
            if not changed:
                samples = list(samples)
                changed = True
            samples[i] = sample._replace(labels=labels)
    return samples, changed


def _unique(samples: Iterable[Sample]) -> list[Sample]:
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    out = []
    for sample in samples:
        key = (sample.name, tuple(sorted(sample.labels.items())))
        if key not in seen:
            seen.add(key)
            out.append(sample)
    return out
