"""The fast text encoder writes exactly what prometheus-client writes."""

from __future__ import annotations

import math

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest

from pagerkit.exposition import can_encode, encode_text
from pagerkit.families import counter, gauge
from pagerkit.server import _Families, encode


def varied_families():  # type: ignore[no-untyped-def]
    shared = {"source": "s", "queue": 'we"ird\\na\nme', "vhost": "/"}
    values = [0, 1, -2.5, 1e6, 123456789.0, 1e-7, math.inf, -math.inf, math.nan, 2**53]
    return [
        gauge("g_one", "Help with \\ and\nnewline.", [({"x": str(v)}, v) for v in values], "s"),
        gauge("g_shared", "Shared labels.", [(shared, 3)], "s"),
        counter("c_total", "A counter.", [(shared, 7), ({"k": "ünï ✓"}, 1)], "s"),
        gauge("g_empty", "No samples.", [], "s"),
        GaugeMetricFamily("g_nolabels", "No labels.", value=4),
        CounterMetricFamily("c2", "Plain counter.", value=9),
    ]


def test_same_bytes_as_prometheus_client():
    families = varied_families()
    assert can_encode(families)
    assert encode_text(families) == generate_latest(_Families(families))


def test_openmetrics_goes_through_the_library():
    body, content_type = encode(varied_families(), "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
