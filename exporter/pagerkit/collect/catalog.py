"""Which metric names the exporter exports, and which an exporter config's queries define:
for the validator, which holds every alert expression to them.

The exporter's names are not a hand-kept list: they come from running the collectors'
own pure family builders on small made-up snapshots, so the list cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client.metrics_core import Metric


def sample_names(families: Iterable[Metric]) -> set[str]:
    names: set[str] = set()
    for family in families:
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def exporter_metric_names() -> set[str]:
    from .collectors import postgres_families as pg
    from .collectors import rabbitmq_families as rmq
    from .collectors.rabbitmq_config import QueueFilter
    from .engine import Engine

    snap = pg.HealthSnapshot("15", 100, (("active", 1),), 0.0, 0, True, 1.0, (("r", 0.1),),
                             (pg.DatabaseStats("db", 1, 1, 1, 1, 1),))
    queues = [rmq.QueueStats("/", "q", 1, 1, 1, 1, 1, 1)]
    overview = rmq.Overview("3", "25", "c", 1, 1, 1, 1)
    node = rmq.NodeStats("n", True, 1, 1, False, 1, 1, False, 1, 1)
    names = sample_names([
        *pg.health_families("s", snap, 10),
        *rmq.broker_families("s", overview, [node]),
        *rmq.queue_families("s", queues, QueueFilter(True, (), (), 10, True), ["/"]).families,
        *rmq.canary_families("s", 0.1, {"timeout": 0}),
        *Engine([], schedule_ends=[("team", 0.0)])._families([]),
    ])
    return names | pg.SELF_METRICS | rmq.SELF_METRICS | {
        "pagerkit_up", "pagerkit_collect_duration_seconds", "pagerkit_collect_errors_total"}


def query_metric_names(path: Path) -> set[str]:
    """The names an exporter config's application queries define."""
    from .config import load_config

    config = load_config(str(path), environ={})
    names: set[str] = set()
    for source in config.sources:
        for query in getattr(source, "queries", ()):
            names.update(metric.name for metric in query.metrics)
    return names
