"""Pure: each node's ``rabbitmq_prometheus`` answers in, the cluster's snapshot out.

A node's ``/metrics`` gives its own alarms, memory, disk, file descriptors and object
counts; its ``/metrics/detailed`` gives the queues it holds the figures of (a classic
queue's home node, a quorum queue's leader). The cluster's snapshot is the sum over the
nodes that answered, each queue taken once, in the snapshot types of the management
path, so that ``rabbitmq_families`` builds the same families from either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..families import clean_label_value
from .base import CollectError
from .rabbitmq_families import NodeStats, Overview, QueueList, QueueStats
from .rabbitmq_prometheus_text import Labels, QueueColumns, parse, queue_columns, queue_values

DETAILED_FAMILIES = ("queue_coarse_metrics", "queue_consumer_count")
"""What ``/metrics/detailed`` is asked for: ready and unacknowledged messages, and the
consumer count alone (``queue_metrics`` would add a dozen figures per queue)."""
READY = "rabbitmq_detailed_queue_messages_ready"
UNACKED = "rabbitmq_detailed_queue_messages_unacked"
CONSUMERS = "rabbitmq_detailed_queue_consumers"
IDENTITY = "rabbitmq_identity_info"
BUILD = "rabbitmq_build_info"

NODE_FIGURES = {
    "mem_used": "rabbitmq_process_resident_memory_bytes",
    "mem_limit": "rabbitmq_resident_memory_limit_bytes",
    "mem_alarm": "rabbitmq_alarms_memory_used_watermark",
    "disk_free": "rabbitmq_disk_space_available_bytes",
    "disk_free_limit": "rabbitmq_disk_space_available_limit_bytes",
    "disk_alarm": "rabbitmq_alarms_free_disk_space_watermark",
    "fd_used": "rabbitmq_process_open_fds",
    "fd_total": "rabbitmq_process_max_fds",
}
"""NodeStats attribute: the node's own unlabelled sample on ``/metrics``."""
TOTALS = ("rabbitmq_connections", "rabbitmq_channels", "rabbitmq_consumers",
          "rabbitmq_queues")
"""The node's own object counts, summed over the nodes for the cluster's."""


@dataclass(frozen=True)
class NodeMetrics:
    """What one node's ``/metrics`` says."""

    stats: NodeStats
    version: str
    erlang_version: str
    cluster_name: str
    totals: tuple[float, float, float, float]


@dataclass(frozen=True)
class NodeQueues:
    """What one node's ``/metrics/detailed`` says: its queues, and lines skipped."""

    node: str
    queues: QueueList
    invalid: int
    columns: QueueColumns | None = field(default=None, compare=False, repr=False)
    """How the answer was read, when as columns: the next answer reuses its queue names."""


def node_metrics(body: bytes) -> NodeMetrics:
    """The node's figures; ``CollectError`` when the body is not the plugin's."""
    parsed = parse(_text(body), (*NODE_FIGURES.values(), *TOTALS, IDENTITY, BUILD))
    identity = _only(parsed.samples[IDENTITY])
    if identity is None or not identity[0].get("rabbitmq_node"):
        raise CollectError("decode", "/metrics has no rabbitmq_identity_info: is this the "
                                     "rabbitmq_prometheus plugin's port (15692)?")
    build = _only(parsed.samples[BUILD]) or ({}, 1.0)
    values = {attr: _value(parsed.samples[name]) for attr, name in NODE_FIGURES.items()}
    stats = NodeStats(identity[0]["rabbitmq_node"], True, values["mem_used"],
                      values["mem_limit"], values["mem_alarm"] == 1, values["disk_free"],
                      values["disk_free_limit"], values["disk_alarm"] == 1,
                      values["fd_used"], values["fd_total"])
    totals = tuple(_value(parsed.samples[name]) for name in TOTALS)
    return NodeMetrics(stats, build[0].get("rabbitmq_version", ""),
                       build[0].get("erlang_version", ""),
                       identity[0].get("rabbitmq_cluster", ""),
                       (totals[0], totals[1], totals[2], totals[3]))


def node_queues(body: bytes, last: QueueColumns | None = None) -> NodeQueues:
    """The node's queues. A queue with messages but no consumer count (or the reverse)
    is skipped and counted, as the management path does with a queue without counts.
    ``last``: the columns of the node's previous reading, whose queue names are reused if
    they stand."""
    text = _text(body)
    identity = _only(parse(text, (IDENTITY,)).samples[IDENTITY])
    if identity is None or not identity[0].get("rabbitmq_node"):
        raise CollectError("decode", "/metrics/detailed has no rabbitmq_identity_info: is "
                                     "this the rabbitmq_prometheus plugin's port (15692)?")
    columns = queue_columns(text, (READY, UNACKED, CONSUMERS), last)
    if columns is not None:
        queues, invalid = _queue_list(columns), 0
    else:
        table = queue_values(text, (READY, UNACKED, CONSUMERS))
        ready, unacked, consumers = (table.values[n] for n in (READY, UNACKED, CONSUMERS))
        queues = _complete_queues(table.queues, ready, unacked, consumers)
        invalid = table.invalid + (len(ready) - len(queues)) + sum(
            1 for k in consumers if k not in ready)
    if not text.isascii():  # a lone surrogate, escaped, would make the exposition fail
        queues = replace(queues, vhosts=list(map(clean_label_value, queues.vhosts)),
                         names=list(map(clean_label_value, queues.names)))
    return NodeQueues(identity[0]["rabbitmq_node"], queues, invalid, columns)


def _queue_list(columns: QueueColumns) -> QueueList:
    """The queues of the plugin's usual answer, read as columns already."""
    if not columns.queues:
        return QueueList((), (), (), (), ())
    vhosts, names = zip(*columns.queues, strict=True)
    values = columns.values
    return QueueList(vhosts, names, values[READY], values[UNACKED], values[CONSUMERS])


def _complete_queues(where: dict[Any, tuple[str, str]], ready: dict[Any, float],
                     unacked: dict[Any, float], consumers: dict[Any, float]) -> QueueList:
    """The queues that have all three figures."""
    keys = list(ready.keys() & unacked.keys() & consumers.keys())
    if not keys:
        return QueueList((), (), (), (), ())
    vhosts, names = zip(*map(where.__getitem__, keys), strict=True)
    return QueueList(vhosts, names, list(map(ready.__getitem__, keys)),
                     list(map(unacked.__getitem__, keys)),
                     list(map(consumers.__getitem__, keys)))


@dataclass(frozen=True)
class ClusterSnapshot:
    overview: Overview
    nodes: tuple[NodeStats, ...]
    queues: QueueList
    invalid: int


def cluster_snapshot(metrics: Sequence[NodeMetrics], queues: Sequence[NodeQueues],
                     down: Sequence[str]) -> ClusterSnapshot:
    """The cluster as the answering nodes see it; ``down`` names the nodes that did not
    answer (reported as not running). A queue two nodes report (a replica's leftover
    figures during a leader change) is taken once, from the first node in config order."""
    first = metrics[0] if metrics else None
    totals = [sum(m.totals[i] for m in metrics) if metrics else math.nan for i in range(4)]
    overview = Overview(first.version if first else "", first.erlang_version if first else "",
                        first.cluster_name if first else "", *totals)
    nodes = (*(m.stats for m in metrics), *(_down(name) for name in down))
    return ClusterSnapshot(overview, nodes, _merged_queues([r.queues for r in queues]),
                           sum(r.invalid for r in queues))


def _merged_queues(lists: Sequence[QueueList]) -> QueueList:
    """Every node's queues, each once: the first node's figures win."""
    if len(lists) == 1:
        return lists[0]
    seen: dict[tuple[str, str], QueueStats] = {}
    for part in reversed(lists):  # the first node's figures written last, so kept
        seen.update(((q.vhost, q.name), q) for q in part.stats())
    return QueueList.of(list(seen.values()))


def _down(name: str) -> NodeStats:
    nan = math.nan
    return NodeStats(name, False, nan, nan, False, nan, nan, False, nan, nan)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CollectError("decode", f"the answer is not UTF-8 text (byte {exc.start})"
                           ) from None


def _only(samples: list[tuple[Labels, float]]) -> tuple[Labels, float] | None:
    return samples[0] if len(samples) == 1 else None


def _value(samples: list[tuple[Labels, float]]) -> float:
    """The node's own unlabelled figure; NaN when the plugin does not give it (an older
    release, or a collector that timed out inside the broker)."""
    for labels, value in samples:
        if not labels:
            return value
    return math.nan
