"""The Prometheus text format (0.0.4) and OpenMetrics, encoded for large families.

prometheus-client's ``generate_latest`` took 0.15 s here for 30,000 samples (three gauges
over 10,000 queues), most of a scrape's own cost at that size. This encoder writes the
same bytes as prometheus-client's two encoders for the families pagerkit builds (gauges
and counters with plain names, no timestamps or exemplars) and formats each distinct
label set once, however many families share it. Anything else goes through
prometheus-client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from .families import ColumnGauge, escape_label_value

_SIMPLE_TYPES = {"gauge": "gauge", "counter": "counter", "untyped": "untyped",
                 "unknown": "untyped"}


_PLAIN_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def can_encode(families: Sequence[Metric]) -> bool:
    """Whether ``encode_text`` writes exactly what prometheus-client would."""
    return all(f.type in _SIMPLE_TYPES and not f.unit and _PLAIN_NAME.match(f.name)
               and (isinstance(f, ColumnGauge) or all(
                   s.timestamp is None and s.exemplar is None for s in f.samples))
               for f in families)


def encode_text(families: Iterable[Metric], openmetrics: bool = False) -> bytes:
    """The exposition of ``families``, byte for byte what prometheus-client writes."""
    out: list[str] = []
    label_text: dict[int, str] = {}
    value_text: dict[float, str] = {}  # counts repeat: 0, 1, 2 ... are formatted once
    for family in families:
        out.append(_openmetrics_header(family) if openmetrics else _text_header(family))
        if isinstance(family, ColumnGauge):  # an f-string beat str.format threefold here
            name = family.name
            out.append("".join([f"{name}{labels} {value}\n" for labels, value in zip(
                family.rows.texts(), _values(family.values, value_text), strict=True)]))
            continue
        for sample in family.samples:
            labels = sample.labels
            text = label_text.get(id(labels))
            if text is None:
                text = _labels(labels)
                label_text[id(labels)] = text
            value = value_text.get(sample.value)
            if value is None:
                value = value_text.setdefault(sample.value, _go_float(sample.value))
            out.append(f"{sample.name}{text} {value}\n")
    if openmetrics:
        out.append("# EOF\n")
    return "".join(out).encode("utf-8")


def _values(values: Sequence[float], texts: dict[float, str]) -> list[str]:
    """Each value as text, each distinct value formatted once (``texts`` keeps them)."""
    for value in set(values).difference(texts):
        texts[value] = _go_float(value)
    return list(map(texts.__getitem__, values))


def _text_header(family: Metric) -> str:
    name = family.name + "_total" if family.type == "counter" else family.name
    doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {_SIMPLE_TYPES[family.type]}\n"


def _openmetrics_header(family: Metric) -> str:
    name, doc = family.name, escape_label_value(family.documentation)
    return f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n"


def _go_float(value: float) -> str:
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(labels.items())) + "}"

