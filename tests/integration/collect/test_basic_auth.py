"""Basic auth against a real ``pagerkit serve``: what timing tells, and what a flood of
wrong passwords can and cannot do to the scrape that has the right one."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import free_port
from tests.harness.exporter_process import ExporterProcess
from tests.harness.support import write_config

pytestmark = pytest.mark.integration

USERS = {"prometheus": "scrape-pass", "prometheus-ha": "other-pass",
         "grafana-agent": "agent-pass", "vmagent": "vm-pass"}
"""Scrapers, each checked by bcrypt once, on its first scrape: during the flood."""
COST = 10
"""The cost people use (htpasswd's and the Prometheus docs' default): about 70 ms a check."""


class FromAddress(HTTPAdapter):
    """Connections from another loopback address: the flood comes from a host of its own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


@pytest.fixture
def exporter(tmp_path, pg_dsn) -> Iterator[ExporterProcess]:
    (tmp_path / "web.yml").write_text("basic_auth_users:\n" + "".join(
        f"  {user}: '{bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST)).decode()}'\n"
        for user, password in USERS.items()))
    port = free_port()
    proc = ExporterProcess(write_config(tmp_path, f"""
web:
  listen_address: "127.0.0.1:{port}"
  config_file: web.yml
sources:
  - name: db
    kind: postgres
    dsn: "{pg_dsn}"
    timeout: 3s
"""), port)
    yield proc
    assert proc.stop() == 0


def test_an_unknown_user_costs_what_a_wrong_password_costs(exporter):
    """Interleaved trials, each with a password never tried before (a refusal is cached):
    the medians are within 25% of each other. Without the dummy comparison an unknown user
    is answered in about 1% of the time."""
    url = f"http://127.0.0.1:{exporter.port}/"
    session = requests.Session()
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    for trial in range(25):
        for kind, user in (("unknown", "nobody"), ("wrong", "prometheus")):
            start = time.perf_counter()
            response = session.get(url, auth=(user, f"guess-{trial}"), timeout=10)
            timings[kind].append(time.perf_counter() - start)
            assert response.status_code == 401, (kind, response.status_code)
    ratio = statistics.median(timings["unknown"]) / statistics.median(timings["wrong"])
    assert 0.8 < ratio < 1.25, (ratio, timings)


def test_a_flood_of_wrong_passwords_never_fails_the_right_one(exporter):
    """Eight threads from another address, each guess new (for the known users and an
    unknown one), then two more from the scrapers' own address: every scrape with the
    right password is 200, the first of each of the four users (checked by bcrypt during
    the flood) included; the flood is answered (401 or 429, never a hang) all along."""
    base = f"http://127.0.0.1:{exporter.port}"
    stop = threading.Event()
    flood: Counter[int] = Counter()
    lock = threading.Lock()
    guesses = itertools.count()

    def hammer(address: str) -> None:
        session = session_from(address)
        while not stop.is_set():
            guess = next(guesses)
            user = [*USERS, "mallory"][guess % (len(USERS) + 1)]
            status = session.get(f"{base}/metrics", auth=(user, f"guess-{guess}"),
                                 timeout=10).status_code
            with lock:
                flood[status] += 1

    threads = [threading.Thread(target=hammer, args=("127.0.0.2",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    scrapes: list[tuple[int, float]] = []
    try:
        time.sleep(1.0)  # the flood is at full strength before the first scrape
        scraper = session_from("127.0.0.1")
        for n in range(40):
            if n == 10:
                for extra in (threading.Thread(target=hammer, args=("127.0.0.1",))
                              for _ in range(2)):
                    threads.append(extra)
                    extra.start()
            start = time.perf_counter()
            user = list(USERS)[n % len(USERS)]
            response = scraper.get(f"{base}/metrics", auth=(user, USERS[user]), timeout=10)
            scrapes.append((response.status_code, time.perf_counter() - start))
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    assert [status for status, _ in scrapes] == [200] * 40, (scrapes, flood)
    assert set(flood) <= {401, 429} and flood[401] >= 10, flood
    assert requests.get(f"{base}/metrics", timeout=5).status_code == 401
