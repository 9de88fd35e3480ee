"""The management API's JSON to snapshots and families, without a broker."""

from __future__ import annotations

import re

import pytest

from pagerkit.collect.collectors.base import CollectError
from pagerkit.collect.collectors.rabbitmq_config import QueueFilter
from pagerkit.collect.collectors.rabbitmq_families import (
    consumer_counts,
    nodes_from_json,
    overview_from_json,
    queue_families,
    queues_from_json,
)
from tests.harness.support import samples, series, value


def queue(name: str, ready: int, vhost: str = "ci", unacked: int = 0) -> dict[str, object]:
    return {"name": name, "vhost": vhost, "messages_ready": ready,
            "messages_unacknowledged": unacked}


def test_consumers_are_counted_from_the_consumer_list():
    consumers = consumer_counts([{"queue": {"name": "a", "vhost": "ci"}}] * 2
                                + [{"queue": {"name": "b", "vhost": "ci"}}, {"bogus": 1}])
    queues, invalid = queues_from_json([queue("a", 1), queue("b", 2), queue("c", 3)],
                                       False, consumers)
    assert invalid == 0
    assert [(q.name, q.consumers) for q in queues] == [("a", 2), ("b", 1), ("c", 0)]


def test_missing_counts_and_repeats_are_invalid_not_zero():
    queues, invalid = queues_from_json(
        [{"name": "down", "vhost": "ci"}, queue("a", 1), queue("a", 9), None, queue("b", 2)],
        False, {})
    assert [(q.name, q.ready) for q in queues] == [("a", 1), ("b", 2)]
    assert invalid == 3


@pytest.mark.parametrize("doc", [{}, "text", None, [1, 2]])
def test_wrong_shapes_are_collect_errors(doc):
    with pytest.raises(CollectError) as caught:
        overview_from_json(doc)
    assert caught.value.kind == "shape"


def test_nodes_and_overview():
    overview = overview_from_json({"rabbitmq_version": "3.10.8", "object_totals": {
        "connections": 3, "channels": 4, "consumers": 5, "queues": 6}})
    assert (overview.connections, overview.queues) == (3, 6)
    nodes = nodes_from_json([{"name": "rabbit@a", "running": True, "mem_alarm": True,
                              "mem_used": 10, "fd_used": "many"}])
    assert nodes[0].mem_alarm and nodes[0].mem_used == 10
    assert nodes[0].fd_used != nodes[0].fd_used  # NaN: not a number, not a made-up zero


def test_filters_cap_totals_and_the_canary_queue():
    """Totals count every queue but the canary's; per-queue series honour include,
    exclude and the cap, sorted so the same queues survive every scrape."""
    raw = [queue(n, r) for n, r in (("jobs.c", 3), ("jobs.a", 1), ("jobs.b", 2),
                                    ("tmp.x", 10), ("pagerkit.canary.h.1.2", 1))]
    queues, _ = queues_from_json(raw, False, {})
    flt = QueueFilter(True, (re.compile(r"^jobs\."),), (re.compile(r"\.b$"),), 1, False)
    result = queue_families("mq", queues, flt, ["ci", "empty"])
    found = samples(result.families)
    assert series(found, "pagerkit_rabbitmq_queue_messages_ready") == {
        frozenset({("source", "mq"), ("vhost", "ci"), ("queue", "jobs.a")}): 1}
    assert result.dropped == 1  # jobs.c: wanted, beyond the cap; jobs.b excluded
    assert value(found, "pagerkit_rabbitmq_vhost_messages_ready", source="mq", vhost="ci") == 16
    assert value(found, "pagerkit_rabbitmq_vhost_queues", source="mq", vhost="ci") == 4
    assert value(found, "pagerkit_rabbitmq_vhost_queues", source="mq", vhost="empty") == 0


def test_per_queue_off_keeps_only_totals():
    queues, _ = queues_from_json([queue("a", 1)], False, {})
    result = queue_families("mq", queues, QueueFilter(False, (), (), 10, False), [])
    names = {f.name for f in result.families}
    assert "pagerkit_rabbitmq_vhost_messages_ready" in names
    assert "pagerkit_rabbitmq_queue_messages_ready" not in names


def test_message_stats_become_counters():
    raw = [{**queue("a", 1), "consumers": 1,
            "message_stats": {"publish": 10, "deliver_get": 9, "ack": 8}},
           {**queue("b", 0), "consumers": 0}]
    queues, invalid = queues_from_json(raw, True)
    assert invalid == 0
    result = queue_families("mq", queues, QueueFilter(True, (), (), 10, True), [])
    found = samples(result.families)
    assert value(found, "pagerkit_rabbitmq_queue_messages_published_total", source="mq",
                 vhost="ci", queue="a") == 10
    assert value(found, "pagerkit_rabbitmq_queue_messages_acknowledged_total", source="mq",
                 vhost="ci", queue="a") == 8
    # b has no stats yet: no counter sample rather than a fake zero.
    assert ("pagerkit_rabbitmq_queue_messages_published_total",
            frozenset({("source", "mq"), ("vhost", "ci"), ("queue", "b")})) not in found


def test_the_last_label_rows_serve_while_the_same_queues_are_kept():
    """The previous scrape's label rows (their texts formatted) are reused only for the
    same queues of the same source; any change makes new ones, with the new figures."""
    flt = QueueFilter(True, (), (), 10, False)
    queues, _ = queues_from_json([queue("a", 1), queue("b", 2)], False, {})
    first = queue_families("mq", queues, flt, [])
    assert first.rows is not None
    moved, _ = queues_from_json([queue("a", 5), queue("b", 6)], False, {})
    same = queue_families("mq", moved, flt, [], first.rows)
    assert same.rows is first.rows
    assert series(samples(same.families), "pagerkit_rabbitmq_queue_messages_ready") == {
        frozenset({("source", "mq"), ("vhost", "ci"), ("queue", q)}): v
        for q, v in (("a", 5), ("b", 6))}
    for changed, source in (([queue("a", 1)], "mq"), ([queue("a", 1), queue("c", 1)], "mq"),
                            ([queue("a", 1), queue("b", 2)], "other")):
        others, _ = queues_from_json(changed, False, {})
        fresh = queue_families(source, others, flt, [], first.rows)
        assert fresh.rows is not first.rows
        assert {dict(s.labels)["queue"] for s in fresh.families[-1].samples} == {
            str(q["name"]) for q in changed}
