"""The fast text encoder writes exactly what prometheus-client writes."""

from __future__ import annotations

import math

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest

from pagerkit.collect.exposition import can_encode, encode_text
from pagerkit.collect.families import ColumnGauge, LabelRows, counter, gauge
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


def column_families():  # type: ignore[no-untyped-def]
    vhosts = ["/", 'we"ird\\na\nme', "ünï ✓", "{}", ""]
    queues = ["q1", "q}{2", 'q"3', "q\\4", "q5"]
    rows = LabelRows({"source": 's{"}', "vhost": vhosts, "queue": queues})
    values = [0.0, 1.0, math.nan, math.inf, 2.5]
    return [
        ColumnGauge("c_ready", "Per object.", rows, values),
        ColumnGauge("c_other", "Same rows.", rows, [3.0, 3.0, -1e-7, 1e6, 0.0]),
        ColumnGauge("c_alone", "One column.", LabelRows({"k": ["a", "b"]}), [1.0, 2.0]),
        ColumnGauge("c_empty", "No objects.", LabelRows({"k": []}), []),
        gauge("g_after", "A usual family after them.", [({"x": "1"}, 1)], "s"),
    ]


def test_columns_are_written_as_prometheus_client_writes_their_samples():
    """A column family's label texts (escaped once for every family that shares them)
    and values give the bytes prometheus-client gives for the same samples."""
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest

    families = column_families()
    assert can_encode(families)
    assert encode_text(families) == generate_latest(_Families(column_families()))
    assert encode_text(families, openmetrics=True) == om_latest(_Families(column_families()))
    assert [s.labels for s in families[0].samples][1] == {
        "source": 's{"}', "vhost": 'we"ird\\na\nme', "queue": "q}{2"}


def test_label_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        LabelRows({"a": ["1"], "b": ["1", "2"]})
    with pytest.raises(ValueError, match="2 values for 1 label sets"):
        ColumnGauge("x", "X.", LabelRows({"a": ["1"]}), [1.0, 2.0])
