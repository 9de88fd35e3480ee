"""The table of source kinds: a new kind is one module plus one line here.

A kind's module is imported only when a config names it, so an exporter watching only
PostgreSQL does not carry requests and pika (about 7 MB of memory).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class SourceKind:
    schema: str
    module: str
    """Relative module name; it provides ``parse_source(ctx, raw)`` and
    ``build_source(config, clock)``."""

    def load(self) -> ModuleType:
        return importlib.import_module(self.module, __package__)


KINDS: dict[str, SourceKind] = {
    "postgres": SourceKind("postgres.schema.json", ".postgres"),
    "rabbitmq": SourceKind("rabbitmq.schema.json", ".rabbitmq"),
}
"""``rabbitmq`` reads the management API or, with ``via: prometheus``, every node's
rabbitmq_prometheus plugin (``rabbitmq_prometheus``): one kind, since the metrics, the
filters and the canary are the same whichever way the figures come."""
