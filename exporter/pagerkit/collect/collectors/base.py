"""What every source kind provides to the collection engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prometheus_client.metrics_core import Metric

Clock = Callable[[], float]
"""Monotonic seconds; injected so tests need no patching."""


class CollectError(Exception):
    """A backend failure: an expected state, reported as ``pagerkit_up 0`` and a count.

    ``kind`` is a label value from the source's ``error_kinds``; the message must hold no
    secret (the log filter scrubs known ones anyway).
    """

    def __init__(self, kind: str, message: str, families: list[Metric] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.families = families or []
        """What the source could still say (a canary's result when the API failed)."""


class SourceConfig(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def timeout(self) -> float: ...


class Source(Protocol):
    """A long-lived backend connection, collected by one thread at a time."""

    name: str
    collector: str
    timeout: float
    error_kinds: tuple[str, ...]

    def collect(self, deadline: float) -> list[Metric]:
        """Families for this scrape; raise ``CollectError`` when the backend fails.

        ``deadline`` is a monotonic time: work past it is wasted, the engine has already
        reported the source as timed out.
        """
        ...

    def abort(self) -> None:
        """Called from another thread at the deadline: break any blocked I/O now."""
        ...

    def close(self) -> None: ...

    def describe(self) -> str:
        """A line for the landing page, without secrets."""
        ...

