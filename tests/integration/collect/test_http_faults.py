"""The management API's HTTP exchange under a peer that holds on, in every phase.

A connect that hangs (a full accept queue), a TLS handshake, the status line and headers,
and the body: each with a silent peer and with one that drips a byte at a time (connect
has no bytes to drip, so its second form is an ``abort()`` mid-connect). Each scrape
returns at the deadline and counts a timeout, the canary beside the API keeps working,
and the first scrape after the peer behaves again is up.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from pagerkit.collect.collectors.base import CollectError
from pagerkit.collect.collectors.httpjson import JsonFetcher
from tests.harness.netfaults import TLS_RECORD_DRIP, FaultyFront
from tests.harness.standin_api import StandInAPI
from tests.harness.support import engine_from, samples, value
from tests.harness.tlscerts import make_tls_files

pytestmark = pytest.mark.integration

TIMEOUT = 1.0
SLACK = 0.35
"""The engine's abort grace (0.1 s) and scheduling on a shared 2-core machine."""


@dataclass
class Peer:
    url: str
    ca_file: Path | None
    behave: Callable[[], None]


FAULTS = ["connect-backlog", "tls-silent", "tls-drip", "headers-silent", "headers-drip",
          "body-silent", "body-drip"]
API_MODES = {"headers-silent": "all:silent", "headers-drip": "all:drip_headers",
             "body-silent": "all:silent_body", "body-drip": "all:drip"}


@contextlib.contextmanager
def faulty_peer(fault: str, tmp_path: Path) -> Iterator[Peer]:
    """A stand-in management API, reached through the fault; ``behave()`` heals it."""
    tls = make_tls_files(tmp_path) if fault.startswith("tls") else None
    api = StandInAPI(tls=(str(tls.server_cert), str(tls.server_key)) if tls else None)
    front = None
    try:
        if fault in API_MODES:
            api.mode = API_MODES[fault]
            yield Peer(api.url, None, lambda: setattr(api, "mode", "ok"))
            return
        kind = {"connect-backlog": "backlog", "tls-silent": "silent", "tls-drip": "drip"}
        front = FaultyFront(api.port, kind[fault], drip=TLS_RECORD_DRIP)
        scheme = "https" if tls else "http"
        yield Peer(f"{scheme}://127.0.0.1:{front.port}", tls.ca if tls else None,
                   front.behave)
    finally:
        if front is not None:
            front.close()
        api.close()


def config(peer: Peer, vhost: str) -> str:
    tls = f"\n    tls_config:\n      ca_file: {peer.ca_file}" if peer.ca_file else ""
    return f"""
sources:
  - name: mq
    kind: rabbitmq
    url: {peer.url}
    username: guest
    timeout: {TIMEOUT:g}s
    max_response_bytes: 16777216{tls}
    canary:
      url: amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe="")}
      timeout: 800ms
"""


@pytest.mark.parametrize("fault", FAULTS)
def test_every_scrape_is_bounded_and_counted_until_the_peer_behaves(tmp_path, rabbit_vhost,
                                                                    fault):
    with faulty_peer(fault, tmp_path) as peer:
        _, engine = engine_from(tmp_path, config(peer, rabbit_vhost))
        try:
            for scrape in range(1, 4):
                start = time.monotonic()
                found = samples(engine.collect())
                elapsed = time.monotonic() - start
                assert elapsed < TIMEOUT + SLACK, f"scrape {scrape} took {elapsed:.2f}s"
                assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
                assert value(found, "pagerkit_collect_errors_total", source="mq",
                             collector="rabbitmq", kind="timeout") == scrape
                assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 1
            peer.behave()
            start = time.monotonic()
            found = samples(engine.collect())
            assert time.monotonic() - start < TIMEOUT
            assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
            assert value(found, "pagerkit_collect_errors_total", source="mq",
                         collector="rabbitmq", kind="timeout") == 3
            assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 1
        finally:
            engine.close()


@pytest.mark.parametrize("fault", ["connect-backlog", "tls-drip", "headers-drip",
                                   "body-drip"])
def test_abort_cuts_the_exchange_in_every_phase(tmp_path, fault):
    """``abort()`` from another thread ends the request at once, whatever phase it is in
    (with a deadline far away, so neither a socket timeout nor the timer can be what
    ended it), as a timeout."""
    with faulty_peer(fault, tmp_path) as peer:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        if peer.ca_file is not None:
            session.verify = str(peer.ca_file)
        fetcher = JsonFetcher(session, 1 << 20, time.monotonic)
        outcome: list[BaseException | object] = []

        def fetch() -> None:
            try:
                outcome.append(fetcher.get(peer.url + "/api/overview", time.monotonic() + 30))
            except CollectError as exc:
                outcome.append(exc)

        fetching = threading.Thread(target=fetch, daemon=True)
        start = time.monotonic()
        fetching.start()
        time.sleep(0.5)
        fetcher.abort()
        fetching.join(3)
        assert not fetching.is_alive(), "abort() did not end the request"
        assert time.monotonic() - start < 0.5 + 0.3
        assert isinstance(outcome[0], CollectError)
        assert outcome[0].kind == "timeout"
        peer.behave()
        assert fetcher.get(peer.url + "/api/overview", time.monotonic() + 5)[
            "cluster_name"] == "standin"
        session.close()


def test_an_answer_announced_too_large_is_refused_unread(tmp_path):
    """A Content-Length over max_response_bytes is refused before a byte of the body is
    read: the 300 MB the peer announces never cross the socket."""
    api = StandInAPI()
    api.mode = "huge"
    session = requests.Session()
    fetcher = JsonFetcher(session, 16 * 1024 * 1024, time.monotonic)
    try:
        start = time.monotonic()
        with pytest.raises(CollectError) as failure:
            fetcher.get_bytes(api.url + "/api/queues", time.monotonic() + 5)
        assert time.monotonic() - start < 0.2
        assert failure.value.kind == "too_large"
        assert "announces 314572800 bytes" in str(failure.value)
    finally:
        session.close()
        api.close()
