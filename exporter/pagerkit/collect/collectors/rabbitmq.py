"""The RabbitMQ source: the management API or every node's ``rabbitmq_prometheus``
plugin (``via: prometheus``, in ``rabbitmq_prometheus``), and the AMQP canary beside it.

Per scrape, a fixed number of HTTP requests whatever the number of queues: the overview,
the nodes, the queue list and the consumer list (one request each for all vhosts, or one
per configured vhost), each asking only for the columns used. With ``disable_stats`` the
queue list has no consumer counts, so they come from ``/api/consumers``.

Measured on RabbitMQ 3.10 with 10,000 queues: the full ``/api/queues`` took 5.2 s and
13.7 MB; ``disable_stats`` with ``enable_queue_totals`` and ``columns``, 0.84 s and
0.8 MB. Message counters (``message_stats``) need the stats and cost the difference, so
they are opt-in.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import quote

import requests
from prometheus_client.metrics_core import Metric

from ..families import LabelRows, gauge
from .base import Clock, CollectError
from .canary import Canary
from .httpjson import JsonFetcher
from .rabbitmq_config import RabbitMQConfig, parse_source, redact_userinfo
from .rabbitmq_families import (
    broker_families,
    consumer_counts,
    nodes_from_json,
    overview_from_json,
    queue_families,
    queues_from_json,
)
from .rabbitmq_prometheus import PluginReader

__all__ = ["RabbitMQSource", "build_source", "parse_source"]

log = logging.getLogger("pagerkit.rabbitmq")

OVERVIEW_COLUMNS = "rabbitmq_version,erlang_version,cluster_name,object_totals"
NODE_COLUMNS = ("name,running,mem_used,mem_limit,mem_alarm,disk_free,disk_free_limit,"
                "disk_free_alarm,fd_used,fd_total")
QUEUE_COLUMNS = "name,vhost,messages_ready,messages_unacknowledged"
CONSUMER_COLUMNS = "queue.name,queue.vhost"
STATS_COLUMNS = "message_stats.publish,message_stats.deliver_get,message_stats.ack"


class RabbitMQSource:
    collector = "rabbitmq"
    error_kinds: tuple[str, ...] = ("connect", "auth", "http", "timeout", "too_large",
                                    "decode", "shape", "internal")
    plugin_error_kinds = ("node", "discovery")
    """With ``via: prometheus``: a node did not answer (the others' figures are still
    served), or the node list could not be refreshed."""

    def __init__(self, config: RabbitMQConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.name = config.name
        self.timeout = config.timeout
        self._clock = clock
        self._fetcher = JsonFetcher(_session(config), config.max_response_bytes, clock)
        self._canary = Canary(config.name, config.canary, clock) if config.canary else None
        self._plugin = PluginReader(config, clock, lambda: _session(config)) \
            if config.via == "prometheus" else None
        if self._plugin is not None:
            self.error_kinds = (*self.error_kinds, *self.plugin_error_kinds)
        self._last_dropped = 0
        self._rows: LabelRows | None = None  # the last scrape's, see queue_families

    def describe(self) -> str:
        text = f"RabbitMQ management API {redact_userinfo(self.config.url)}" \
            if self._plugin is None else self._plugin.describe()
        if self.config.canary is not None:
            text += f", canary {self.config.canary.display_url()}"
        return text

    def collect(self, deadline: float) -> list[Metric]:
        canary = self._start_canary(deadline)
        try:
            families = self._api_families(deadline) if self._plugin is None \
                else self._plugin_families(deadline)
        except CollectError as exc:
            exc.families = [*exc.families, *self._finish_canary(canary, deadline)]
            raise
        return families + self._finish_canary(canary, deadline)

    def abort(self) -> None:
        self._fetcher.abort()
        if self._plugin is not None:
            self._plugin.abort()

    def close(self) -> None:
        self._fetcher.session.close()
        if self._plugin is not None:
            self._plugin.close()
        if self._canary is not None:
            self._canary.close()

    def _api_families(self, deadline: float) -> list[Metric]:
        overview = overview_from_json(self._get("/api/overview", deadline,
                                                {"columns": OVERVIEW_COLUMNS}))
        nodes = nodes_from_json(self._get("/api/nodes", deadline, {"columns": NODE_COLUMNS}))
        stats = self.config.queues.message_stats
        documents = self._lists("queues", deadline, self._queue_params())
        consumers = None if stats else consumer_counts(
            self._lists("consumers", deadline, {"columns": CONSUMER_COLUMNS}))
        queues, invalid = queues_from_json(documents, stats, consumers)
        series = queue_families(self.name, queues, self.config.queues, self.config.vhosts,
                                self._rows)
        self._rows = series.rows
        return [*broker_families(self.name, overview, nodes), *series.families,
                *self._count_families(series.dropped, invalid)]

    def _plugin_families(self, deadline: float) -> list[Metric]:
        """Every node's figures; when a node failed (or the discovery), the figures of
        the others still go out, with the failure: ``pagerkit_up`` 0, incomplete."""
        assert self._plugin is not None
        reading = self._plugin.families(deadline)
        families = reading.families + self._count_families(reading.dropped, reading.invalid)
        if reading.error is not None:
            raise CollectError(reading.error.kind, str(reading.error), families)
        return families

    def _count_families(self, dropped: int, invalid: int) -> list[Metric]:
        """What this scrape left out, as gauges: numbers of queues now, not of
        queue-scrapes (a queue left out on every scrape would grow a counter forever)."""
        self._note_dropped(dropped)
        return [
            gauge("pagerkit_rabbitmq_queues_dropped",
                  "Queues left out of the per-queue series by queues.max_series in the last "
                  "scrape; the vhost totals still count them.", [({}, dropped)], self.name),
            gauge("pagerkit_rabbitmq_queues_invalid",
                  "Queue entries of an unexpected shape or without their counts, skipped "
                  "in the last scrape.", [({}, invalid)], self.name),
        ]

    def _queue_params(self) -> dict[str, str]:
        if self.config.queues.message_stats:
            return {"columns": f"{QUEUE_COLUMNS},consumers,{STATS_COLUMNS}"}
        return {"columns": QUEUE_COLUMNS, "disable_stats": "true",
                "enable_queue_totals": "true"}

    def _lists(self, kind: str, deadline: float, params: dict[str, str]) -> list[Any]:
        """``/api/<kind>``, or one request per configured vhost."""
        if not self.config.vhosts:
            return self._list(f"/api/{kind}", deadline, params)
        documents: list[Any] = []
        for vhost in self.config.vhosts:
            documents += self._list(f"/api/{kind}/{quote(vhost, safe='')}", deadline, params)
        return documents

    def _list(self, path: str, deadline: float, params: dict[str, str]) -> list[Any]:
        doc = self._get(path, deadline, params)
        if not isinstance(doc, list):
            raise CollectError("shape", f"{path} did not return a list")
        return doc

    def _get(self, path: str, deadline: float, params: dict[str, str]) -> Any:
        return self._fetcher.get(self.config.url + path, deadline, params)

    def _note_dropped(self, dropped: int) -> None:
        if bool(dropped) != bool(self._last_dropped):
            if dropped:
                log.warning("source %s: %d queue(s) beyond queues.max_series %d are not "
                            "exported per queue", self.name, dropped,
                            self.config.queues.max_series)
            else:
                log.info("source %s: every wanted queue is exported again", self.name)
        self._last_dropped = dropped

    def _start_canary(self, deadline: float) -> threading.Thread | None:
        if self._canary is None:
            return None
        canary = self._canary
        canary_deadline = min(deadline, self._clock() + canary.config.timeout)
        thread = threading.Thread(target=canary.round_trip, args=(canary_deadline,),
                                  daemon=True, name=f"canary-{self.name}")
        thread.start()
        return thread

    def _finish_canary(self, thread: threading.Thread | None, deadline: float) -> list[Metric]:
        if thread is None or self._canary is None:
            return []
        thread.join(max(0.0, deadline - self._clock()))
        return self._canary.families(overdue=thread.is_alive())


def _session(config: RabbitMQConfig) -> requests.Session:
    session = requests.Session()
    session.auth = (config.username, config.password.reveal())
    session.headers["Accept-Encoding"] = "identity"
    session.headers["User-Agent"] = "pagerkit"
    session.trust_env = False  # no proxies or .netrc from the environment
    session.verify = str(config.ca_file) if config.ca_file and config.verify else config.verify
    if config.client_cert is not None:
        session.cert = config.client_cert
    return session


def build_source(config: RabbitMQConfig, clock: Clock) -> RabbitMQSource:
    return RabbitMQSource(config, clock)
