"""A real ``pagerkit serve`` process under bad answers and at shutdown."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from pagerkit.serving import CLOSE_WAIT, SHUTDOWN_GRACE
from tests.conftest import free_port
from tests.harness.exporter_process import ExporterProcess
from tests.harness.standin_api import StandInAPI
from tests.harness.support import write_config

pytestmark = pytest.mark.integration

BAD_ANSWERS = [("all:huge", "too_large"), ("all:endless", "too_large"),
               ("all:garbage", "decode"), ("all:truncated", "connect")]
"""Content-Length of 300 MB; chunked without a length, forever; 4 MB of non-JSON; 8 MB
announced, 4 MB sent. The cap is 16 MB."""


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def rabbit_exporter(tmp_path, api: StandInAPI) -> tuple[ExporterProcess, str]:  # type: ignore[no-untyped-def]
    port = free_port()
    text = f"""
web:
  listen_address: "127.0.0.1:{port}"
sources:
  - name: mq
    kind: rabbitmq
    url: {api.url}
    username: guest
    timeout: 5s
    max_response_bytes: 16777216
"""
    return ExporterProcess(write_config(tmp_path, text), port), f"http://127.0.0.1:{port}/metrics"


def scrape_errors(session: requests.Session, url: str, kind: str) -> float:
    text = session.get(url, timeout=10).text
    line = next(line for line in text.splitlines()
                if line.startswith("pagerkit_collect_errors_total{") and f'kind="{kind}"' in line)
    return float(line.rsplit(" ", 1)[1])


def test_rss_stays_flat_across_a_hundred_bad_answers(tmp_path):
    """Oversized (announced and chunked), garbage and truncated answers, 25 of each after
    a warm-up of 5 each: the exporter's RSS grows by less than 20 MB (a failed collection
    used to keep what it had read alive until the cycle collector ran)."""
    api = StandInAPI()
    proc, url = rabbit_exporter(tmp_path, api)
    session = requests.Session()

    def failures(each: int) -> None:
        """``each`` scrapes per bad answer, every one of them one more failure."""
        for mode, kind in BAD_ANSWERS:
            api.mode = mode
            last = scrape_errors(session, url, kind)
            for _ in range(each - 1):
                now = scrape_errors(session, url, kind)
                assert now == last + 1
                last = now

    try:
        failures(5)
        baseline = rss_mb(proc.proc.pid)
        failures(25)
        grown = rss_mb(proc.proc.pid) - baseline
        assert grown < 20, f"RSS grew {grown:.0f} MB from {baseline:.0f} MB"
    finally:
        session.close()
        assert proc.stop() == 0
        api.close()


def test_sigterm_with_five_keep_alive_scrapers(tmp_path, pg_dsn):
    """Five scrapers on keep-alive connections, scraping in a loop: SIGTERM exits 0 well
    within the documented grace, with no traceback and no error logged."""
    port = free_port()
    text = f"""
web:
  listen_address: "127.0.0.1:{port}"
sources:
  - name: db
    kind: postgres
    dsn: "{pg_dsn}"
"""
    proc = ExporterProcess(write_config(tmp_path, text), port)
    stop = threading.Event()
    answered: list[int] = []

    def scraper() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    answered.append(session.get(f"http://127.0.0.1:{port}/metrics",
                                                timeout=10).status_code)
                except requests.exceptions.ConnectionError:
                    return

    threads = [threading.Thread(target=scraper) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    start = time.monotonic()
    code = proc.stop()
    took = time.monotonic() - start
    stop.set()
    for thread in threads:
        thread.join(15)
    stderr = proc.stderr()
    assert code == 0
    assert took < SHUTDOWN_GRACE + CLOSE_WAIT, f"took {took:.1f}s"
    assert took < 1.5, f"nothing was in flight for long, yet it took {took:.1f}s"
    assert "Traceback" not in stderr
    assert "level=ERROR" not in stderr
    assert set(answered) == {200}


def test_a_scrape_in_flight_at_sigterm_is_answered(tmp_path, pg_dsn):
    """A scrape that takes 2 s (a slow query) when SIGTERM arrives is answered in full
    before the process exits, within the grace."""
    port = free_port()
    text = f"""
web:
  listen_address: "127.0.0.1:{port}"
sources:
  - name: db
    kind: postgres
    dsn: "{pg_dsn}"
    timeout: 4s
    queries:
      - name: slow
        sql: SELECT 1 AS one FROM pg_sleep(2)
        metrics:
          - {{name: slow_one, type: gauge, value: one, help: Served late.}}
"""
    proc = ExporterProcess(write_config(tmp_path, text), port)
    result: list[requests.Response] = []
    scrape = threading.Thread(target=lambda: result.append(
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)))
    scrape.start()
    time.sleep(0.5)
    start = time.monotonic()
    code = proc.stop()
    took = time.monotonic() - start
    scrape.join(10)
    assert code == 0
    assert 1.0 < took < SHUTDOWN_GRACE + CLOSE_WAIT
    assert result[0].status_code == 200
    assert "slow_one{source=\"db\"} 1.0" in result[0].text
    assert "Traceback" not in proc.stderr()
