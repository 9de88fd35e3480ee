"""Building metric families, shared by every collector and the engine."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

_SURROGATE = re.compile("[\ud800-\udfff]")

Samples = Iterable[tuple[dict[str, str], float]]


def gauge(name: str, doc: str, samples: Samples, source: str) -> Metric:
    """A gauge family; every sample gets the ``source`` label first."""
    return _fill(GaugeMetricFamily(name, doc, labels=()), "", samples, source)


def counter(name: str, doc: str, samples: Samples, source: str) -> Metric:
    """A counter family; ``name`` ends in ``_total``, as do its samples."""
    return _fill(CounterMetricFamily(name, doc, labels=()), "_total", samples, source)


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
        family.add_sample(family.name + suffix, {"source": source, **labels}, float(value))
    return family


def clean_label_value(value: str) -> str:
    """A label value the exposition can always encode: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)


def sanitize(families: Iterable[Metric]) -> list[Metric]:
    """Families safe to encode: label values cleaned, same-name families merged.

    Two sources export the same family (each sample has its own ``source``); two raw
    values can clean to the same text. A repeated series or a name reused with another
    type would make the whole exposition invalid, so the first one wins.
    """
    merged: dict[str, Metric] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for family in families:
        target = merged.setdefault(family.name, _empty_like(family))
        if target.type != family.type:
            continue
        for sample in family.samples:
            labels = {k: clean_label_value(v) for k, v in sample.labels.items()}
            key = (sample.name, tuple(sorted(labels.items())))
            if key not in seen:
                seen.add(key)
                target.samples.append(sample._replace(labels=labels))
    return list(merged.values())


def _empty_like(family: Metric) -> Metric:
    empty = Metric(family.name, family.documentation, family.type, family.unit)
    return empty
