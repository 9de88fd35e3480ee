"""The RabbitMQ source through the ``rabbitmq_prometheus`` plugin of every node.

Each node reports only its own queues and its own alarms, memory, disk and file
descriptors, so the source reads every node: ``/metrics`` (a few hundred lines) and
``/metrics/detailed`` with only ``queue_coarse_metrics`` and ``queue_consumer_count`` and
the configured vhosts. All requests run at once, one thread and one connection each,
under the source's one deadline less ``ASSEMBLY_RESERVE``, so that the families of the
nodes that answered are built and handed in before the deadline even when a node hangs.

The nodes are the configured ``nodes``, or discovered through the management API at
``url``: ``/api/nodes`` names every member of the cluster, running or not, and
``/api/overview``'s listeners give each running node's plugin port. Discovery runs on
the first scrape and then every ``DISCOVERY_INTERVAL``; when it fails, the nodes known
from the last discovery are read and the scrape is reported as failed (``kind
discovery``), since a node that joined since would be missing unseen.

A node that does not answer costs its own ``pagerkit_rabbitmq_node_up`` and the source's
``pagerkit_up`` (``kind node``): the figures of the other nodes are still served, and
``pagerkit_rabbitmq_queues_missing`` says how many queues the failed nodes held when
they last answered.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client.metrics_core import Metric

from ..families import LabelRows, gauge
from .base import Clock, CollectError
from .httpjson import JsonFetcher
from .rabbitmq_config import RabbitMQConfig, redact_userinfo
from .rabbitmq_families import broker_families, queue_families
from .rabbitmq_prometheus_snapshot import (
    DETAILED_FAMILIES,
    NodeMetrics,
    NodeQueues,
    cluster_snapshot,
    node_metrics,
    node_queues,
)
from .rabbitmq_prometheus_text import QueueColumns

DISCOVERY_INTERVAL = 60.0
DEFAULT_PLUGIN_PORT = 15692
ASSEMBLY_RESERVE = 0.25
"""Seconds kept back from the deadline (at most a tenth of the timeout) to build the
families of the nodes that answered."""


@dataclass
class Node:
    """One node's plugin: its URL, its name once known, and what it last held.
    ``expected``: the name discovery gave it, checked against the node's own answer."""

    key: str
    """The URL of a configured node, the name of a discovered one."""
    url: str
    name: str
    fetchers: tuple[JsonFetcher, JsonFetcher]
    queues: int = 0
    expected: str | None = None
    last: QueueColumns | None = None
    """How the last answer was read (its queue names are reused while they stand)."""


@dataclass(frozen=True)
class Reading:
    """One scrape's families, what it left out, and why it is incomplete, if it is."""

    families: list[Metric]
    dropped: int
    invalid: int
    error: CollectError | None


@dataclass
class Round:
    """One scrape's requests, filled in by their threads."""

    metrics: dict[str, NodeMetrics] = field(default_factory=dict)
    queues: dict[str, NodeQueues] = field(default_factory=dict)
    errors: dict[str, CollectError] = field(default_factory=dict)


class PluginReader:
    """Reads every node of one source; ``RabbitMQSource`` delegates to it."""

    def __init__(self, config: RabbitMQConfig, clock: Clock,
                 session: Callable[[], requests.Session]) -> None:
        """``session`` makes a configured session (auth, TLS): one per connection."""
        self.config = config
        self._clock = clock
        self._session = session
        self._nodes: dict[str, Node] = {}
        self._discovered_at: float | None = None
        self._discovery = JsonFetcher(session(), config.max_response_bytes, clock) \
            if not config.nodes else None
        self._lock = threading.Lock()
        self._rows: LabelRows | None = None
        for url in config.nodes:
            self._node(url, url, _label(url))

    def describe(self) -> str:
        if self.config.nodes:
            return "RabbitMQ rabbitmq_prometheus plugin on " + ", ".join(
                redact_userinfo(u) for u in self.config.nodes)
        return f"RabbitMQ rabbitmq_prometheus plugin on the nodes that the management API " \
               f"{redact_userinfo(self.config.url)} lists"

    def families(self, deadline: float) -> Reading:
        """The cluster's families, and the failure that makes them incomplete (a node,
        or the discovery), if any."""
        with _cyclic_gc_paused():
            return self._families(deadline)

    def _families(self, deadline: float) -> Reading:
        discovery_error = self._discover(deadline)
        nodes = list(self._nodes.values())
        done = self._read(nodes, self._read_deadline(deadline))
        down = [n for n in nodes if n.key in done.errors]
        up = [n for n in nodes if n.key not in done.errors]
        snapshot = cluster_snapshot([done.metrics[n.key] for n in up],
                                    [done.queues[n.key] for n in up], [n.name for n in down])
        series = queue_families(self.config.name, snapshot.queues, self.config.queues,
                                self.config.vhosts, self._rows)
        self._rows = series.rows
        families = [*broker_families(self.config.name, snapshot.overview, snapshot.nodes),
                    *series.families, *self._node_families(nodes, down)]
        return Reading(families, series.dropped, snapshot.invalid,
                       discovery_error or _node_error(down, done.errors, len(nodes)))

    def abort(self) -> None:
        with self._lock:
            fetchers = [f for n in self._nodes.values() for f in n.fetchers]
        if self._discovery is not None:
            fetchers.append(self._discovery)
        for fetcher in fetchers:
            fetcher.abort()

    def close(self) -> None:
        with self._lock:
            for node in self._nodes.values():
                for fetcher in node.fetchers:
                    fetcher.session.close()
        if self._discovery is not None:
            self._discovery.session.close()

    def _read_deadline(self, deadline: float) -> float:
        return deadline - min(ASSEMBLY_RESERVE, self.config.timeout / 10)

    def _read(self, nodes: list[Node], deadline: float) -> Round:
        """Both endpoints of every node at once, each in its own thread."""
        done = Round()
        threads = [threading.Thread(target=work, args=(node, deadline, done), daemon=True,
                                    name=f"rabbitmq-{self.config.name}-{node.name}")
                   for node in nodes for work in (self._get_metrics, self._get_queues)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - self._clock()) + 0.05)
        if any(t.is_alive() for t in threads):  # a cut request returns at once
            for node in nodes:
                for fetcher in node.fetchers:
                    fetcher.abort()
            for thread in threads:
                thread.join(0.05)
        for node in nodes:
            if node.key not in done.errors and (node.key not in done.metrics
                                                or node.key not in done.queues):
                done.errors[node.key] = CollectError("timeout", "no answer in time")
        return done

    def _get(self, fetcher: JsonFetcher, url: str, deadline: float,
             params: list[tuple[str, str]] | None = None) -> bytes:
        """The body at ``url``. The credentials go only to a plugin that asks for them
        (a 401): one that does not (its default) would check them on every request, which
        took the broker 20-25 ms a request at 10,000 queues. Once asked, they are sent
        from then on."""
        try:
            return fetcher.get_bytes(url, deadline, params)
        except CollectError as exc:
            if exc.kind != "auth" or fetcher.session.auth is not None:
                raise
        fetcher.session.auth = (self.config.username, self.config.password.reveal())
        return fetcher.get_bytes(url, deadline, params)

    def _get_metrics(self, node: Node, deadline: float, done: Round) -> None:
        try:
            body = self._get(node.fetchers[0], node.url + "/metrics", deadline)
            reading = node_metrics(body)
            if node.expected is not None and reading.stats.name != node.expected:
                raise CollectError("shape", f"{_label(node.url)} answers as "
                                            f"{reading.stats.name}, not {node.expected}: "
                                            "list the nodes' plugin URLs in nodes")
            done.metrics[node.key] = reading
            node.name = reading.stats.name
        except CollectError as exc:
            done.errors.setdefault(node.key, exc)

    def _get_queues(self, node: Node, deadline: float, done: Round) -> None:
        params = [("family", family) for family in DETAILED_FAMILIES]
        params += [("vhost", vhost) for vhost in self.config.vhosts]
        try:
            body = self._get(node.fetchers[1], node.url + "/metrics/detailed", deadline,
                             params)
            reading = node_queues(body, node.last)
            done.queues[node.key] = reading
            node.queues, node.last = len(reading.queues), reading.columns
        except CollectError as exc:
            done.errors.setdefault(node.key, exc)

    def _node_families(self, nodes: list[Node], down: list[Node]) -> list[Metric]:
        return [
            gauge("pagerkit_rabbitmq_node_up",
                  "1 if the node's rabbitmq_prometheus plugin answered in time; its queues "
                  "are then in the figures.",
                  [({"node": n.name}, float(all(n is not d for d in down))) for n in nodes],
                  self.config.name),
            gauge("pagerkit_rabbitmq_queues_missing",
                  "Queues left out of every figure because the node that holds them did "
                  "not answer (as many as it held when it last answered).",
                  [({}, float(sum(n.queues for n in down)))], self.config.name),
        ]

    def _node(self, key: str, url: str, name: str) -> Node:
        """The node under ``key``, made on first use; a discovered node that moved to
        another URL is made anew."""
        with self._lock:
            node = self._nodes.get(key)
            if node is not None and node.url != url:
                self._drop(key)
                node = None
            if node is None:
                fetchers = tuple(self._plugin_fetcher() for _ in range(2))
                node = Node(key, url, name, (fetchers[0], fetchers[1]))
                self._nodes[key] = node
            return node

    def _plugin_fetcher(self) -> JsonFetcher:
        session = self._session()
        session.auth = None  # until the plugin asks for it: see _get
        return JsonFetcher(session, self.config.max_response_bytes, self._clock)

    def _drop(self, key: str) -> None:
        for fetcher in self._nodes.pop(key).fetchers:
            fetcher.session.close()

    def _discover(self, deadline: float) -> CollectError | None:
        """Refresh the node list when it is due; the failure, if it failed (the nodes
        known from before are kept; with none known, the scrape fails)."""
        if self._discovery is None:
            return None
        now = self._clock()
        if self._discovered_at is not None and now - self._discovered_at < DISCOVERY_INTERVAL:
            return None
        try:
            members = self._members(deadline)
        except CollectError as exc:
            if not self._nodes:
                raise
            return CollectError("discovery", f"cannot list the cluster's nodes, read the "
                                             f"{len(self._nodes)} known: {exc}")
        with self._lock:
            for key in set(self._nodes) - {name for _, name in members}:
                self._drop(key)
        for url, name in members:
            node = self._node(name, url, name)
            node.name = node.expected = name
        self._discovered_at = now
        return None

    def _members(self, deadline: float) -> list[tuple[str, str]]:
        assert self._discovery is not None
        base = self.config.url
        nodes = self._discovery.get(base + "/api/nodes", deadline, {"columns": "name"})
        overview = self._discovery.get(base + "/api/overview", deadline,
                                       {"columns": "listeners"})
        return plugin_urls(nodes, overview, urlsplit(base).scheme or "http",
                           {n.name: n.url for n in self._nodes.values()})


def plugin_urls(nodes: Any, overview: Any, scheme: str, known: dict[str, str]
                ) -> list[tuple[str, str]]:
    """``(plugin URL, node name)`` for every member ``/api/nodes`` lists: the port of
    its ``http/prometheus`` listener, on the listener's address, or the host of its node
    name when it listens on every address; a node without a listener (stopped, or an API
    without the metrics collector) keeps the URL it had, else gets the plugin's default
    port on its host. A URL that reaches another node is caught by its answer's name."""
    if not isinstance(nodes, list):
        raise CollectError("shape", "/api/nodes did not return a list")
    listeners = {}
    # Without the management metrics collector, the overview has no listeners (and
    # with ``columns`` it is then an empty list): every node gets the default port.
    for item in (overview.get("listeners") or ()) if isinstance(overview, dict) else ():
        if isinstance(item, dict) and str(item.get("protocol", "")).endswith("/prometheus"):
            listeners[str(item.get("node"))] = item
    found = []
    for item in nodes:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        host = name.partition("@")[2] or "localhost"
        listener = listeners.get(name)
        if listener is not None:
            address = str(listener.get("ip_address", ""))
            if address and address not in ("::", "0.0.0.0"):
                host = f"[{address}]" if ":" in address else address
            kind = "https" if str(listener["protocol"]).startswith("https") else "http"
            found.append((f"{kind}://{host}:{listener.get('port')}", name))
        else:
            found.append((known.get(name, f"{scheme}://{host}:{DEFAULT_PLUGIN_PORT}"), name))
    return found


def _node_error(down: list[Node], errors: dict[str, CollectError], everyone: int
                ) -> CollectError | None:
    """``node`` when some nodes failed (the others' figures are served); when every node
    failed, the first one's own failure (``auth``, ``timeout``...), as with one API."""
    if not down:
        return None
    if len(down) == everyone:
        first = errors[down[0].key]
        return CollectError(first.kind, f"{down[0].name}: {first}")
    text = "; ".join(f"{n.name}: {errors[n.key].kind} ({errors[n.key]})" for n in down[:3])
    return CollectError("node", f"{len(down)} node(s) did not answer, their queues are "
                                f"missing from the figures: {text}")


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a scrape builds its tuples: at 10,000
    queues, its passes over the growing heap took 40 ms of the 115 ms that parsing and
    building the families took. Reference counting still frees everything (these
    objects hold no cycles); concurrent scrapes share one pause, counted."""
    global _gc_pausers
    with _gc_lock:
        mine = _gc_pausers > 0 or gc.isenabled()  # else someone else's pause: leave it
        if mine:
            _gc_pausers += 1
            gc.disable()
    try:
        yield
    finally:
        if mine:
            with _gc_lock:
                _gc_pausers -= 1
                if _gc_pausers == 0:
                    gc.enable()


def _label(url: str) -> str:
    """A node's label until it answers with its name: the URL's host and port."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or DEFAULT_PLUGIN_PORT}"


