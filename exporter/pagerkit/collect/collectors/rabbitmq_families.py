"""Pure: the management API's JSON in, snapshots and metric families out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client.metrics_core import Metric

from ..families import ColumnGauge, LabelRows, clean_label_value, counter, gauge
from .base import CollectError
from .rabbitmq_config import CANARY_QUEUE_PREFIX, QueueFilter


@dataclass(frozen=True)
class NodeStats:
    name: str
    running: bool
    mem_used: float
    mem_limit: float
    mem_alarm: bool
    disk_free: float
    disk_free_limit: float
    disk_alarm: bool
    fd_used: float
    fd_total: float


class QueueStats(NamedTuple):
    """One queue. A tuple, not a dataclass: a broker may list tens of thousands."""

    vhost: str
    name: str
    ready: float
    unacked: float
    consumers: float
    published: float | None = None
    delivered: float | None = None
    acknowledged: float | None = None


@dataclass(frozen=True)
class QueueList:
    """Many queues, column by column: queue ``i`` is ``(vhosts[i], names[i])`` with its
    counts. A broker may hold tens of thousands: columns are sliced, summed and handed to
    the families in C, where a tuple per queue took a Python step each. ``counters``:
    (published, delivered, acknowledged) per queue, read with ``message_stats`` only."""

    vhosts: Sequence[str]
    names: Sequence[str]
    ready: Sequence[float]
    unacked: Sequence[float]
    consumers: Sequence[float]
    counters: Sequence[tuple[float | None, float | None, float | None]] | None = None

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def of(cls, queues: Sequence[QueueStats]) -> QueueList:
        if not queues:
            return cls((), (), (), (), ())
        vhosts, names, ready, unacked, consumers, *counters = zip(*queues, strict=True)
        return cls(vhosts, names, ready, unacked, consumers, list(zip(*counters, strict=True)))

    def take(self, index: Sequence[int]) -> QueueList:
        """The queues at ``index``, in its order."""
        def pick(column: Sequence[Any]) -> list[Any]:
            return list(map(column.__getitem__, index))
        return QueueList(pick(self.vhosts), pick(self.names), pick(self.ready),
                         pick(self.unacked), pick(self.consumers),
                         None if self.counters is None else pick(self.counters))

    def stats(self) -> list[QueueStats]:
        """One tuple per queue (for a reader, not for the hot path)."""
        counters = self.counters or [(None, None, None)] * len(self)
        return [QueueStats(*row[:5], *row[5]) for row in zip(
            self.vhosts, self.names, self.ready, self.unacked, self.consumers, counters,
            strict=True)]

    def by_key(self) -> dict[tuple[str, str], QueueStats]:
        return {(q.vhost, q.name): q for q in self.stats()}


@dataclass(frozen=True)
class Overview:
    version: str
    erlang_version: str
    cluster_name: str
    connections: float
    channels: float
    consumers: float
    queues: float


def overview_from_json(doc: Any) -> Overview:
    if not isinstance(doc, dict) or not isinstance(doc.get("object_totals"), dict):
        raise CollectError("shape", "/api/overview did not return an object with object_totals")
    totals = doc["object_totals"]
    return Overview(str(doc.get("rabbitmq_version", "")), str(doc.get("erlang_version", "")),
                    str(doc.get("cluster_name", "")), _num(totals.get("connections")),
                    _num(totals.get("channels")), _num(totals.get("consumers")),
                    _num(totals.get("queues")))


def nodes_from_json(doc: Any) -> tuple[NodeStats, ...]:
    if not isinstance(doc, list):
        raise CollectError("shape", "/api/nodes did not return a list")
    nodes = []
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        nodes.append(NodeStats(
            item["name"], bool(item.get("running")), _num(item.get("mem_used")),
            _num(item.get("mem_limit")), bool(item.get("mem_alarm")),
            _num(item.get("disk_free")), _num(item.get("disk_free_limit")),
            bool(item.get("disk_free_alarm")), _num(item.get("fd_used")),
            _num(item.get("fd_total"))))
    return tuple(nodes)


def consumer_counts(doc: Any) -> dict[tuple[str, str], int]:
    """Consumers per ``(vhost, queue)`` from ``/api/consumers``: with ``disable_stats``
    the queue list has no ``consumers`` column, so they are counted here."""
    if not isinstance(doc, list):
        raise CollectError("shape", "/api/consumers did not return a list")
    counts: dict[tuple[str, str], int] = {}
    for item in doc:
        queue = item.get("queue") if isinstance(item, dict) else None
        if isinstance(queue, dict):
            key = (str(queue.get("vhost")), str(queue.get("name")))
            counts[key] = counts.get(key, 0) + 1
    return counts


def queues_from_json(doc: Any, message_stats: bool,
                     consumers: dict[tuple[str, str], int] | None = None
                     ) -> tuple[list[QueueStats], int]:
    """The queues, and how many items were of the wrong shape (skipped, counted).

    ``consumers`` replaces the queue list's own column when stats are disabled.
    """
    if not isinstance(doc, list):
        raise CollectError("shape", "/api/queues did not return a list")
    queues: dict[tuple[str, str], QueueStats] = {}
    invalid = 0
    for item in doc:
        queue = _queue(item, message_stats, consumers)
        if queue is None or (queue.vhost, queue.name) in queues:
            invalid += 1  # of the wrong shape, or listed twice
        else:
            queues[(queue.vhost, queue.name)] = queue
    return list(queues.values()), invalid


def _queue(item: Any, message_stats: bool,
           consumer_map: dict[tuple[str, str], int] | None) -> QueueStats | None:
    if type(item) is not dict:
        return None
    name, vhost = item.get("name"), item.get("vhost")
    if type(name) is not str or type(vhost) is not str:
        return None
    ready: Any = item.get("messages_ready")
    unacked: Any = item.get("messages_unacknowledged")
    consumers: Any = item.get("consumers") if consumer_map is None \
        else consumer_map.get((vhost, name), 0)
    # A queue without counts (its leader is down) is counted as invalid, not reported as 0.
    if type(ready) not in _NUMBER or type(unacked) not in _NUMBER \
            or type(consumers) not in _NUMBER:
        return None
    if not (name.isascii() and vhost.isascii()):  # once per queue, not once per sample
        name, vhost = clean_label_value(name), clean_label_value(vhost)
    if not message_stats:
        return QueueStats(vhost, name, ready, unacked, consumers)
    stats = item.get("message_stats") or {}
    if not isinstance(stats, dict):
        return None
    return QueueStats(vhost, name, ready, unacked, consumers, _num(stats.get("publish")),
                      _num(stats.get("deliver_get")), _num(stats.get("ack")))


_NUMBER = (int, float)
"""JSON numbers: exact types, so a JSON true or false is not one."""


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBER


def _num(value: Any) -> float:
    return float(value) if _is_number(value) else math.nan


NODE_GAUGES = (
    ("running", "running", "1 if the node is running (via the plugin: if its plugin "
                           "answered)."),
    ("memory_used_bytes", "mem_used", "Memory the node uses (via the plugin: its resident "
                                      "memory, which the memory alarm compares by default)."),
    ("memory_limit_bytes", "mem_limit",
     "The memory high watermark: above it the node blocks publishers."),
    ("memory_alarm", "mem_alarm", "1 while the memory alarm blocks publishers on the cluster."),
    ("disk_free_bytes", "disk_free", "Free disk space on the node."),
    ("disk_free_limit_bytes", "disk_free_limit",
     "The free disk limit: below it the node blocks publishers."),
    ("disk_alarm", "disk_alarm", "1 while the disk alarm blocks publishers on the cluster."),
    ("file_descriptors_used", "fd_used", "File descriptors the node uses."),
    ("file_descriptors_limit", "fd_total",
     "The node's file descriptor limit; connections fail beyond it."),
)
"""pagerkit_rabbitmq_node_<name>: NodeStats attribute and help, one gauge each."""


def broker_families(source: str, overview: Overview, nodes: Sequence[NodeStats]) -> list[Metric]:
    def per_node(attr: str) -> list[tuple[dict[str, str], float]]:
        return [({"node": n.name}, float(getattr(n, attr))) for n in nodes]

    return [
        gauge("pagerkit_rabbitmq_info", "The broker's versions and cluster name, as labels.",
              [({"rabbitmq_version": overview.version, "erlang_version": overview.erlang_version,
                 "cluster_name": overview.cluster_name}, 1)], source),
        gauge("pagerkit_rabbitmq_connections", "Client connections open on the cluster.",
              [({}, overview.connections)], source),
        gauge("pagerkit_rabbitmq_channels", "Channels open on the cluster.",
              [({}, overview.channels)], source),
        gauge("pagerkit_rabbitmq_consumers", "Consumers on the cluster's queues.",
              [({}, overview.consumers)], source),
        gauge("pagerkit_rabbitmq_queues", "Queues on the cluster, in every vhost (via the "
              "plugin: summed over the nodes that answered, each counting its own).",
              [({}, overview.queues)], source),
        *(gauge(f"pagerkit_rabbitmq_node_{name}", doc, per_node(attr), source)
          for name, attr, doc in NODE_GAUGES),
    ]


@dataclass(frozen=True)
class QueueSeries:
    families: list[Metric]
    dropped: int
    rows: LabelRows | None = None
    """The per-queue series' labels, for the next scrape to reuse while they stand."""


def queue_families(source: str, queues: QueueList | Sequence[QueueStats],
                   queue_filter: QueueFilter, vhosts: Sequence[str],
                   last: LabelRows | None = None) -> QueueSeries:
    """Per-vhost totals over every queue, and per-queue series for the wanted ones, capped.
    The canary's own queues are left out of both. ``last``: the previous scrape's label
    rows, reused (their texts formatted already) when the same queues are kept.

    Queues are sorted by vhost and name before the cap, so the same ones are kept on
    every scrape.
    """
    q = queues if isinstance(queues, QueueList) else QueueList.of(queues)
    if CANARY_QUEUE_PREFIX in "\n".join(q.names):  # checked in C: there is one at most
        q = q.take([i for i, name in enumerate(q.names)
                    if not name.startswith(CANARY_QUEUE_PREFIX)])
    families = vhost_families(source, q, vhosts)
    if not queue_filter.per_queue:
        return QueueSeries(families, 0)
    wanted = q.take([i for i, name in enumerate(q.names) if queue_filter.wants(name)]) \
        if queue_filter.include or queue_filter.exclude else q
    # Sorted only when the cap cuts, so that the same ones are kept (10 ms at 10,000
    # queues): (vhost, name) is unique, so the index only rides along.
    kept = wanted
    if len(wanted) > queue_filter.max_series:
        order = sorted(zip(wanted.vhosts, wanted.names, range(len(wanted)), strict=True))
        kept = wanted.take([i for _, _, i in order[: queue_filter.max_series]])
    # One label text per queue, shared by its families: the encoder formats it once.
    columns: dict[str, Sequence[str] | str] = {
        "source": source, "vhost": list(kept.vhosts), "queue": list(kept.names)}
    rows = last if last is not None and last.columns == columns else LabelRows(columns)
    families += [
        ColumnGauge("pagerkit_rabbitmq_queue_messages_ready",
                    "Messages waiting in the queue for a consumer.", rows, kept.ready),
        ColumnGauge("pagerkit_rabbitmq_queue_messages_unacknowledged",
                    "Messages delivered to consumers and not yet acknowledged.",
                    rows, kept.unacked),
        ColumnGauge("pagerkit_rabbitmq_queue_consumers", "Consumers attached to the queue.",
                    rows, kept.consumers),
    ]
    if queue_filter.message_stats and kept.counters is not None:
        labels = rows.dicts()
        for at, (name, doc) in enumerate((
                ("published", "Messages published to the queue."),
                ("delivered", "Messages delivered from the queue (deliver and get)."),
                ("acknowledged", "Messages acknowledged by consumers."))):
            families.append(counter(
                f"pagerkit_rabbitmq_queue_messages_{name}_total", doc,
                ((lab, v) for lab, row in zip(labels, kept.counters, strict=True)
                 if (v := row[at]) is not None and not math.isnan(v)), source))
    return QueueSeries(families, len(wanted) - len(kept), rows)


def vhost_families(source: str, queues: QueueList, vhosts: Sequence[str]) -> list[Metric]:
    totals: dict[str, list[float]] = {v: [0.0, 0.0, 0.0, 0.0] for v in vhosts}
    present = set(queues.vhosts)
    if len(present) == 1:  # one vhost, the usual case: summed column by column, in C
        totals[present.pop()] = [sum(queues.ready, 0.0), sum(queues.unacked, 0.0),
                                 sum(queues.consumers, 0.0), float(len(queues))]
    else:
        for vhost, ready, unacked, consumers in zip(queues.vhosts, queues.ready,
                                                    queues.unacked, queues.consumers,
                                                    strict=True):
            t = totals.setdefault(vhost, [0.0, 0.0, 0.0, 0.0])
            t[0] += ready
            t[1] += unacked
            t[2] += consumers
            t[3] += 1
    order = sorted(totals)
    return [
        gauge(f"pagerkit_rabbitmq_vhost_{name}", doc,
              [({"vhost": v}, totals[v][i]) for v in order], source)
        for i, (name, doc) in enumerate((
            ("messages_ready", "Messages waiting for a consumer, summed over the vhost's "
                               "queues."),
            ("messages_unacknowledged", "Messages delivered and not yet acknowledged, summed "
                                        "over the vhost's queues."),
            ("consumers", "Consumers, summed over the vhost's queues."),
            ("queues", "Queues in the vhost.")))
    ]


def canary_families(source: str, roundtrip: float | None, failures: dict[str, int]
                    ) -> list[Metric]:
    """The canary's success, its failures by kind, and the round trip when it succeeded."""
    families = [
        gauge("pagerkit_rabbitmq_canary_success",
              "1 if the last AMQP round trip (publish, then consume) succeeded.",
              [({}, float(roundtrip is not None))], source),
        counter("pagerkit_rabbitmq_canary_failures_total",
                "Failed AMQP round trips, by kind (blocked: the broker blocks publishers).",
                [({"kind": k}, v) for k, v in failures.items()], source),
    ]
    if roundtrip is not None:
        families.append(gauge("pagerkit_rabbitmq_canary_roundtrip_seconds",
                              "Time from publishing the canary message to consuming it.",
                              [({}, roundtrip)], source))
    return families


SELF_METRICS = frozenset({"pagerkit_rabbitmq_queues_dropped",
                          "pagerkit_rabbitmq_queues_invalid",
                          "pagerkit_rabbitmq_node_up", "pagerkit_rabbitmq_queues_missing"})
"""Families rabbitmq.py and rabbitmq_prometheus.py build themselves, beside the ones
above: what a scrape left out, and (via the plugin) which nodes answered."""
