"""The engine: deadlines, shared flights, and no exception reaching the exposition."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric

from pagerkit.collect.collectors.base import CollectError
from pagerkit.collect.engine import Engine
from pagerkit.collect.server import _Families
from tests.harness.support import samples, value


class StandInSource:
    """A source whose behaviour each test scripts: value, delay, error or a bug."""

    collector = "standin"
    error_kinds = ("connect", "timeout", "internal")

    def __init__(self, name: str, *, delay: float = 0.0, error: Exception | None = None,
                 label: str = "ok", timeout: float = 1.0) -> None:
        self.name = name
        self.timeout = timeout
        self.delay = delay
        self.error = error
        self.label = label
        self.calls = 0
        self.aborted = threading.Event()

    def collect(self, deadline: float) -> list[Metric]:
        self.calls += 1
        if self.delay:
            self.aborted.wait(self.delay)
        if self.error is not None:
            raise self.error
        family = GaugeMetricFamily("standin_value", "A value.", labels=["source", "label"])
        family.add_metric([self.name, self.label], 7)
        return [family]

    def abort(self) -> None:
        self.aborted.set()

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "stand-in"


def test_a_slow_source_costs_only_itself():
    """A source past its deadline is down (timeout) and aborted; the other is served."""
    slow = StandInSource("slow", delay=30, timeout=0.3)
    fast = StandInSource("fast")
    engine = Engine([slow, fast])
    start = time.monotonic()
    found = samples(engine.collect())
    assert time.monotonic() - start < 0.6
    assert value(found, "pagerkit_up", source="slow", collector="standin") == 0
    assert value(found, "pagerkit_collect_errors_total", source="slow", collector="standin",
                 kind="timeout") == 1
    assert value(found, "pagerkit_up", source="fast", collector="standin") == 1
    assert value(found, "standin_value", source="fast", label="ok") == 7
    assert slow.aborted.wait(1)


def test_scrape_timeout_shortens_the_deadline():
    slow = StandInSource("slow", delay=30, timeout=10)
    engine = Engine([slow])
    start = time.monotonic()
    engine.collect(scrape_timeout=0.6)
    assert time.monotonic() - start < 0.6


def test_errors_and_bugs_are_counted_not_raised():
    """A backend error and a collector bug each cost their source; the scrape encodes."""
    broken = StandInSource("broken", error=CollectError("connect", "refused"))
    buggy = StandInSource("buggy", error=ZeroDivisionError("oops"))
    engine = Engine([broken, buggy, StandInSource("fine")])
    for _ in range(2):
        families = engine.collect()
    found = samples(families)
    assert value(found, "pagerkit_collect_errors_total", source="broken", collector="standin",
                 kind="connect") == 2
    assert value(found, "pagerkit_collect_errors_total", source="buggy", collector="standin",
                 kind="internal") == 2
    assert value(found, "pagerkit_up", source="fine", collector="standin") == 1
    assert b"pagerkit_up" in generate_latest(_Families(families))  # type: ignore[arg-type]


def test_concurrent_scrapes_share_one_flight():
    """Ten scrapes while a collection runs: the source is collected once."""
    source = StandInSource("s", delay=0.3)
    engine = Engine([source])
    results: list[float] = []

    def scrape() -> None:
        results.append(value(samples(engine.collect()), "standin_value", source="s",
                             label="ok"))

    threads = [threading.Thread(target=scrape) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [7] * 10
    assert source.calls == 1


def test_lone_surrogate_label_still_encodes():
    """A label value with a lone surrogate is cleaned, not a failed exposition."""
    engine = Engine([StandInSource("s", label="bad\ud800value")])
    text = generate_latest(_Families(engine.collect())).decode()  # type: ignore[arg-type]
    assert 'label="bad\ufffdvalue"' in text


class WedgedSource(StandInSource):
    """A source whose I/O ignores ``abort()`` until the test releases it (a blocked DNS
    lookup, say): the worst case the engine must still report honestly."""

    def __init__(self) -> None:
        super().__init__("wedged", timeout=0.3)
        self.release = threading.Event()
        self.aborts = 0

    def collect(self, deadline: float) -> list[Metric]:
        self.calls += 1
        self.release.wait(30)
        return super().collect(deadline)

    def abort(self) -> None:
        self.aborts += 1


def test_every_scrape_of_a_wedged_source_counts_a_timeout():
    """While a flight overruns, each scrape returns at its deadline with up 0 and one more
    timeout (never a silent 0), aborts again, and starts no second flight; the first
    scrape after the source lets go is up."""
    source = WedgedSource()
    engine = Engine([source])
    try:
        for scrape in range(1, 4):
            start = time.monotonic()
            found = samples(engine.collect())
            assert time.monotonic() - start < 0.3 + 0.2
            assert value(found, "pagerkit_up", source="wedged", collector="standin") == 0
            assert value(found, "pagerkit_collect_errors_total", source="wedged",
                         collector="standin", kind="timeout") == scrape
        assert source.calls == 1
        assert source.aborts == 3
    finally:
        source.release.set()
    time.sleep(0.05)
    found = samples(engine.collect())
    assert value(found, "pagerkit_up", source="wedged", collector="standin") == 1
    assert value(found, "pagerkit_collect_errors_total", source="wedged", collector="standin",
                 kind="timeout") == 3


class CutOffSource(StandInSource):
    """Like the RabbitMQ source: aborted at its deadline, it still hands in the families
    it could get (a canary's) with the error."""

    def collect(self, deadline: float) -> list[Metric]:
        self.aborted.wait(30)
        family = GaugeMetricFamily("standin_canary", "Canary.", labels=["source"])
        family.add_metric([self.name], 1)
        raise CollectError("timeout", "cut off", [family])


def test_what_a_source_hands_in_after_abort_is_served():
    source = CutOffSource("cut", timeout=0.3)
    engine = Engine([source])
    start = time.monotonic()
    found = samples(engine.collect())
    assert time.monotonic() - start < 0.3 + 0.15
    assert value(found, "pagerkit_up", source="cut", collector="standin") == 0
    assert value(found, "pagerkit_collect_errors_total", source="cut", collector="standin",
                 kind="timeout") == 1
    assert value(found, "standin_canary", source="cut") == 1


class Payload:
    """Stands for a body a collector read; weakly referenceable, unlike bytes."""

    def __init__(self) -> None:
        self.data = bytes(1024)


class FailingReader(StandInSource):
    def __init__(self) -> None:
        super().__init__("reader")
        self.read: weakref.ref[Payload] | None = None

    def collect(self, deadline: float) -> list[Metric]:
        payload = Payload()
        self.read = weakref.ref(payload)
        try:
            raise ValueError("a parser choked")
        except ValueError:
            raise CollectError("too_large", "the body is too large") from None


def test_a_failed_collection_keeps_nothing_it_read():
    """The error a flight keeps holds no frame of the collector, so what it read is freed
    at once, without waiting for the cycle collector."""
    source = FailingReader()
    engine = Engine([source])
    gc.disable()
    try:
        engine.collect()
        assert source.read is not None
        assert source.read() is None
    finally:
        gc.enable()
