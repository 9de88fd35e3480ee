"""The plugin's answers to the cluster's snapshot, and discovery's node URLs: pure."""

from __future__ import annotations

import math

import pytest

from pagerkit.collect.collectors.base import CollectError
from pagerkit.collect.collectors.rabbitmq_config import QueueFilter
from pagerkit.collect.collectors.rabbitmq_families import queue_families
from pagerkit.collect.collectors.rabbitmq_prometheus import plugin_urls
from pagerkit.collect.collectors.rabbitmq_prometheus_snapshot import (
    cluster_snapshot,
    node_metrics,
    node_queues,
)

METRICS = b"""# TYPE rabbitmq_alarms_memory_used_watermark untyped
rabbitmq_alarms_memory_used_watermark 1
# TYPE rabbitmq_alarms_free_disk_space_watermark untyped
rabbitmq_alarms_free_disk_space_watermark 0
# TYPE rabbitmq_process_open_fds gauge
rabbitmq_process_open_fds 44
# TYPE rabbitmq_process_resident_memory_bytes gauge
rabbitmq_process_resident_memory_bytes 146337792
# TYPE rabbitmq_disk_space_available_bytes gauge
rabbitmq_disk_space_available_bytes 8e10
# TYPE rabbitmq_process_max_fds gauge
rabbitmq_process_max_fds 1024
# TYPE rabbitmq_resident_memory_limit_bytes gauge
rabbitmq_resident_memory_limit_bytes 1e9
# TYPE rabbitmq_disk_space_available_limit_bytes gauge
rabbitmq_disk_space_available_limit_bytes 50000000
# TYPE rabbitmq_connections gauge
rabbitmq_connections 3
# TYPE rabbitmq_channels gauge
rabbitmq_channels 4
# TYPE rabbitmq_consumers gauge
rabbitmq_consumers 2
# TYPE rabbitmq_queues gauge
rabbitmq_queues 5
# TYPE rabbitmq_queues_created_total counter
rabbitmq_queues_created_total 99
# TYPE rabbitmq_build_info untyped
rabbitmq_build_info{rabbitmq_version="4.1.0",erlang_version="27"} 1
# TYPE rabbitmq_identity_info untyped
rabbitmq_identity_info{rabbitmq_node="rabbit@a",rabbitmq_cluster="prod"} 1
"""


def detailed(node: str, rows: list[tuple[str, str, int, int, int]]) -> bytes:
    text = ""
    for family, at in (("messages_ready", 2), ("messages_unacked", 3), ("consumers", 4)):
        text += f"# TYPE rabbitmq_detailed_queue_{family} gauge\n"
        text += "".join(f'rabbitmq_detailed_queue_{family}{{vhost="{r[0]}",queue="{r[1]}"}} '
                        f"{r[at]}\n" for r in rows)
    return (text + f'# TYPE rabbitmq_identity_info untyped\nrabbitmq_identity_info{{'
                   f'rabbitmq_node="{node}",rabbitmq_cluster="prod"}} 1\n').encode()


def test_node_metrics_maps_every_figure():
    reading = node_metrics(METRICS)
    stats = reading.stats
    assert (stats.name, stats.running, stats.mem_used, stats.mem_limit, stats.mem_alarm) == (
        "rabbit@a", True, 146337792, 1e9, True)
    assert (stats.disk_free, stats.disk_free_limit, stats.disk_alarm) == (8e10, 5e7, False)
    assert (stats.fd_used, stats.fd_total) == (44, 1024)
    assert (reading.version, reading.erlang_version, reading.cluster_name) == (
        "4.1.0", "27", "prod")
    assert reading.totals == (3, 4, 2, 5)


def test_a_figure_the_node_does_not_give_is_nan_not_zero():
    reading = node_metrics(METRICS.replace(b"rabbitmq_process_max_fds 1024\n", b""))
    assert math.isnan(reading.stats.fd_total)


@pytest.mark.parametrize("body", [b"<html>not the plugin</html>", b'{"json": true}', b"",
                                  bytes(range(256))])
def test_an_answer_that_is_not_the_plugin_is_refused(body):
    with pytest.raises(CollectError) as caught:
        node_metrics(body)
    assert caught.value.kind == "decode"
    with pytest.raises(CollectError):
        node_queues(body)


def test_queues_of_two_nodes_are_counted_once():
    a = node_queues(detailed("rabbit@a", [("/", "q1", 1, 0, 1), ("ci", "q2", 2, 1, 0)]))
    b = node_queues(detailed("rabbit@b", [("/", "q3", 4, 0, 0), ("/", "q1", 9, 9, 9)]))
    snap = cluster_snapshot([node_metrics(METRICS)], [a, b], ["rabbit@c"])
    queues = {(q.vhost, q.name): (q.ready, q.unacked, q.consumers)
              for q in snap.queues.stats()}
    assert queues == {("/", "q1"): (1, 0, 1), ("ci", "q2"): (2, 1, 0), ("/", "q3"): (4, 0, 0)}
    assert [n.name for n in snap.nodes] == ["rabbit@a", "rabbit@c"]
    assert snap.nodes[1].running is False
    series = queue_families("s", snap.queues, QueueFilter(True, (), (), 2, False), [])
    assert series.dropped == 1


def test_a_queue_without_every_figure_is_skipped_and_counted():
    body = detailed("rabbit@a", [("/", "whole", 1, 0, 0)]).replace(
        b"# TYPE rabbitmq_detailed_queue_consumers gauge\n",
        b"# TYPE rabbitmq_detailed_queue_consumers gauge\n"
        b'rabbitmq_detailed_queue_consumers{vhost="/",queue="only-consumers"} 1\n')
    body = body.replace(b"# TYPE rabbitmq_detailed_queue_messages_unacked gauge\n",
                        b'rabbitmq_detailed_queue_messages_ready{vhost="/",queue="half"} 3\n'
                        b"# TYPE rabbitmq_detailed_queue_messages_unacked gauge\n")
    reading = node_queues(body)
    assert list(reading.queues.by_key()) == [("/", "whole")]
    assert reading.invalid == 2


def test_discovered_urls_follow_the_listeners():
    nodes = [{"name": "rabbit@h1"}, {"name": "rabbit@h2"}, {"name": "rabbit@h3"}, "junk"]
    overview = {"listeners": [
        {"node": "rabbit@h1", "protocol": "http/prometheus", "ip_address": "::", "port": 15692},
        {"node": "rabbit@h2", "protocol": "https/prometheus", "ip_address": "10.0.0.2",
         "port": 15691},
        {"node": "rabbit@h2", "protocol": "amqp", "ip_address": "10.0.0.2", "port": 5672}]}
    assert plugin_urls(nodes, overview, "http", {"rabbit@h3": "http://h3:16000"}) == [
        ("http://h1:15692", "rabbit@h1"), ("https://10.0.0.2:15691", "rabbit@h2"),
        ("http://h3:16000", "rabbit@h3")]
    assert plugin_urls(nodes[:1], [], "https", {}) == [("https://h1:15692", "rabbit@h1")]
    with pytest.raises(CollectError):
        plugin_urls({"not": "a list"}, overview, "http", {})


def test_a_family_in_another_order_gives_the_same_queues():
    """A family in another queue order than the first (the consumer counts come from
    another table of the broker's) gives the same figures, each queue's own."""
    rows = [("/", f"q{i}", i, 2 * i, i % 3) for i in range(50)]
    rows.append(("v\\\\", 'we\\"ird', 1, 0, 1))  # as the text format escapes them
    body = detailed("rabbit@a", rows)
    ready, rest = body.split(b"# TYPE rabbitmq_detailed_queue_messages_unacked", 1)
    head, *lines = ready.decode().splitlines(keepends=True)
    reordered = (head + "".join(reversed(lines))).encode() + \
        b"# TYPE rabbitmq_detailed_queue_messages_unacked" + rest
    fast, slow = node_queues(body), node_queues(reordered)
    assert fast.queues.by_key() == slow.queues.by_key()
    assert len(fast.queues) == 51 and fast.invalid == 0 == slow.invalid
    assert fast.queues.by_key()[("v\\", 'we"ird')].ready == 1
