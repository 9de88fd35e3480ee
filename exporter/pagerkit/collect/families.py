"""Building metric families, shared by every collector and the engine."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

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


def bulk_gauge(name: str, doc: str, labels: list[dict[str, str]], values: list[float]
               ) -> Metric:
    """A gauge of many objects, built in one pass: each label dict already holds
    ``source`` and clean values (see ``clean_label_value``), so ``sanitize`` skips it."""
    family = GaugeMetricFamily(name, doc, labels=())
    family.samples = [Sample(name, lab, float(v), None, None, None)
                      for lab, v in zip(labels, values, strict=True)]
    setattr(family, CLEAN, True)
    return family


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
