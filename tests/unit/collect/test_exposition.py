"""The fast text encoder writes exactly what prometheus-client writes."""

from __future__ import annotations

import math

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest

from pagerkit.collect.exposition import can_encode, encode_text
from pagerkit.collect.families import counter, gauge
from pagerkit.collect.server import _Families, encode


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


def test_same_bytes_as_prometheus_client_openmetrics():
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest

    families = varied_families()
    assert encode_text(families, openmetrics=True) == om_latest(_Families(families))


PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def test_negotiation_follows_the_accept_header():
    body, content_type = encode(varied_families(), PROMETHEUS_ACCEPT)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    body, content_type = encode(varied_families(), "")
    assert content_type.startswith("text/plain; version=0.0.4")
    assert not body.endswith(b"# EOF\n")


def test_names_the_fast_path_cannot_write_go_through_the_library():
    families = [gauge("app:ratio", "Colon in the name.", [({}, 1)], "s")]
    assert not can_encode(families)
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest

    assert encode(families, PROMETHEUS_ACCEPT)[0] == om_latest(_Families(families))
