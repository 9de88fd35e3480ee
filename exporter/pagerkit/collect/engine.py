"""The collection engine: every source at once, each under its own deadline.

One collection per source is in flight at a time; scrapes that arrive meanwhile wait for
it and share its result. A source that fails, raises or overruns its deadline costs its
own ``pagerkit_up`` and nothing else: no exception reaches the exposition.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from .. import __version__
from ..secrets import REDACTOR
from .collectors import KINDS
from .collectors.base import Clock, CollectError, Source
from .config import Config
from .families import counter, gauge, per_source, sanitize

log = logging.getLogger("pagerkit.engine")

SCRAPE_MARGIN = 0.25
"""Seconds kept back from Prometheus's scrape timeout to encode and send the answer."""

ABORT_GRACE = 0.1
"""Seconds a source gets after its deadline and ``abort()`` to hand in what it still has
(a canary's result beside an API that was cut off); taken from ``SCRAPE_MARGIN``."""


@dataclass
class Flight:
    """One collection of one source, shared by every scrape that arrives while it runs."""

    deadline: float
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    families: list[Metric] = field(default_factory=list)
    error: CollectError | None = None
    expired: bool = False
    duration: float = 0.0


@dataclass(frozen=True)
class Outcome:
    source: Source
    up: bool
    duration: float
    families: list[Metric]


class SourceRunner:
    """Runs one source's flights and keeps its error counts and its last state."""

    def __init__(self, source: Source, clock: Clock) -> None:
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: Flight | None = None
        self.errors = dict.fromkeys(source.error_kinds, 0)
        self._last_kind: str | None = ""  # "" = never collected, so the first is logged

    def collect(self, deadline: float) -> Outcome:
        flight = self._join_or_start(deadline)
        if flight.expired:
            return self._still_running(flight)
        remaining = min(flight.deadline, deadline) - self._clock()
        if flight.done.wait(max(0.0, remaining)):
            return self._outcome(flight)
        if self._clock() >= flight.deadline:
            self.source.abort()
            if flight.done.wait(ABORT_GRACE):
                return self._outcome(flight)
            self._expire(flight)
        return Outcome(self.source, False, self._clock() - flight.started, [])

    def _outcome(self, flight: Flight) -> Outcome:
        return Outcome(self.source, flight.error is None and not flight.expired,
                       flight.duration, flight.families if not flight.expired else [])

    def _still_running(self, flight: Flight) -> Outcome:
        """A flight that overran an earlier scrape's deadline and has not ended yet: this
        scrape counts another timeout (never a silent 0) and aborts it again, without
        starting a second flight beside a source that is stuck."""
        with self._lock:
            self.errors["timeout"] = self.errors.get("timeout", 0) + 1
        self.source.abort()
        return Outcome(self.source, False, self._clock() - flight.started, [])

    def _join_or_start(self, deadline: float) -> Flight:
        with self._lock:
            if self._flight is not None and not self._flight.done.is_set():
                return self._flight  # expired when it is still running past its deadline
            now = self._clock()
            flight = Flight(deadline=min(deadline, now + self.source.timeout), started=now)
            self._flight = flight
        thread = threading.Thread(target=self._run, args=(flight,), daemon=True,
                                  name=f"collect-{self.source.name}")
        thread.start()
        return flight

    def _run(self, flight: Flight) -> None:
        try:
            flight.families = self.source.collect(flight.deadline)
            if self._clock() > flight.deadline:  # late, in ABORT_GRACE: a timeout still
                flight.families = []
                flight.error = CollectError("timeout", "the collection ended after its "
                                                       "deadline")
        except CollectError as exc:
            # A copy without traceback or context: theirs hold the collector's frames, and
            # with them what it read (a body too large, say) for as long as the flight.
            flight.error = CollectError(exc.kind, str(exc))
            flight.families = exc.families
        except Exception as exc:  # a bug in a collector must not cost the scrape
            log.exception("source %s: collector raised", self.source.name)
            flight.error = CollectError("internal", f"{type(exc).__name__}: {exc}")
        flight.duration = self._clock() - flight.started
        with self._lock:
            if not flight.expired:
                if flight.error is not None:
                    self.errors[flight.error.kind] = self.errors.get(flight.error.kind, 0) + 1
                self._note(flight.error)
            flight.done.set()

    def _expire(self, flight: Flight) -> None:
        """Give up on a flight that was aborted and did not end in ``ABORT_GRACE``."""
        with self._lock:
            if flight.expired or flight.done.is_set():
                return
            flight.expired = True
            self.errors["timeout"] = self.errors.get("timeout", 0) + 1
            waited = flight.deadline - flight.started
            self._note(CollectError("timeout", f"no answer within {waited:.1f}s"))

    def _note(self, error: CollectError | None) -> None:
        """Log a change of state once (called with the lock held): a new kind of failure
        is a change, the same failure with other details is not."""
        kind = None if error is None else error.kind
        if kind == self._last_kind:
            return
        if error is None:
            log.info("source %s is up", self.source.name)
        else:
            log.warning("source %s is down (%s: %s)", self.source.name, error.kind,
                        REDACTOR.scrub(str(error)))
        self._last_kind = kind


class Engine:
    """Collects every configured source for one scrape."""

    def __init__(self, sources: Sequence[Source], clock: Clock = time.monotonic,
                 schedule_ends: Sequence[tuple[str, float]] = ()) -> None:
        self._clock = clock
        self.runners = [SourceRunner(s, clock) for s in sources]
        self.schedule_ends = tuple(schedule_ends)

    def collect(self, scrape_timeout: float | None = None) -> list[Metric]:
        """All families for one scrape, within ``scrape_timeout`` when Prometheus sent one."""
        start = self._clock()
        outcomes: list[Outcome | None] = [None] * len(self.runners)
        deadlines = [self._deadline(r.source, start, scrape_timeout) for r in self.runners]

        def run(i: int) -> None:
            outcomes[i] = self.runners[i].collect(deadlines[i])

        threads = [threading.Thread(target=run, args=(i,), daemon=True)
                   for i in range(1, len(self.runners))]
        for thread in threads:
            thread.start()
        if self.runners:
            run(0)
        for thread in threads:
            thread.join()
        return sanitize(self._families([o for o in outcomes if o is not None]))

    def close(self) -> None:
        for runner in self.runners:
            runner.source.abort()
            runner.source.close()

    def _deadline(self, source: Source, start: float, scrape_timeout: float | None) -> float:
        timeout = source.timeout
        if scrape_timeout is not None:
            timeout = min(timeout, max(0.1, scrape_timeout - SCRAPE_MARGIN))
        return start + timeout

    def _families(self, outcomes: list[Outcome]) -> list[Metric]:
        def rows(value: str) -> list[tuple[str, dict[str, str], float]]:
            return [(o.source.name, {"collector": o.source.collector},
                     float(o.up) if value == "up" else o.duration) for o in outcomes]

        errors = [(r.source.name, {"collector": r.source.collector, "kind": kind}, float(n))
                  for r in self.runners for kind, n in sorted(r.errors.items())]
        families: list[Metric] = [
            build_info(),
            per_source(gauge, "pagerkit_up", "1 if the last collection from the source "
                       "succeeded, 0 if it failed or timed out.", rows("up")),
            per_source(gauge, "pagerkit_collect_duration_seconds",
                       "How long the source's last collection took.", rows("duration")),
            per_source(counter, "pagerkit_collect_errors_total",
                       "Collections from the source that failed, by kind of failure.", errors),
        ]
        if self.schedule_ends:
            families.append(gauge(
                "pagerkit_oncall_schedule_end_timestamp_seconds",
                "When the team's generated on-call schedule ends: after it, Alertmanager "
                "pages nobody. Extend horizon in alertmanager/routing.yaml and regenerate.",
                [({"team": team}, end) for team, end in self.schedule_ends], "oncall"))
        for outcome in outcomes:
            families.extend(outcome.families)
        return families


def build_info() -> Metric:
    family = GaugeMetricFamily("pagerkit_build_info", "pagerkit's version; always 1.",
                               labels=("version", "python_version"))
    family.add_metric([__version__, platform.python_version()], 1)
    return family


def build_engine(config: Config) -> Engine:
    """The engine for a loaded config: one source per entry, on the monotonic clock."""
    return Engine([KINDS[s.kind].load().build_source(s, time.monotonic)
                   for s in config.sources], schedule_ends=config.schedule_ends)
