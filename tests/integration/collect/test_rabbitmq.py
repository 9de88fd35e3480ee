"""The RabbitMQ collector against a real broker, and against a misbehaving stand-in API."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import quote

import pika
import pytest

from tests.conftest import free_port
from tests.harness.netfaults import SilentPeer
from tests.harness.standin_api import StandInAPI
from tests.harness.support import engine_from, samples, series, value

pytestmark = pytest.mark.integration


def rabbit_config(vhost: str | None, *, api: str = "http://127.0.0.1:15672",
                  extra: str = "", canary: bool = True, timeout: str = "3s",
                  password: str = "guest") -> str:
    vhosts = f"\n    vhosts: [{vhost}]" if vhost else ""
    amqp_vhost = quote(vhost or "/", safe="")
    canary_text = (f"\n    canary:\n      url: amqp://guest:guest@127.0.0.1:5672/{amqp_vhost}"
                   "\n      timeout: 2s") if canary else ""
    return f"""
sources:
  - name: mq
    kind: rabbitmq
    url: {api}
    username: guest
    password: ${{PAGERKIT_TEST_RABBITMQ_PASSWORD:-{password}}}
    timeout: {timeout}{vhosts}{canary_text}
{extra}"""


@contextlib.contextmanager
def amqp(vhost: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    params = pika.ConnectionParameters("127.0.0.1", 5672, vhost,
                                       pika.PlainCredentials("guest", "guest"))
    conn = pika.BlockingConnection(params)
    try:
        yield conn.channel()
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def collect_until(engine, predicate, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """The broker publishes queue statistics every few seconds: collect until they show."""
    deadline = time.monotonic() + seconds
    while True:
        found = samples(engine.collect())
        if predicate(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def queue_value(found, name, vhost, queue):  # type: ignore[no-untyped-def]
    return found.get((name, frozenset({("source", "mq"), ("vhost", vhost),
                                       ("queue", queue)})))


def test_queue_counts_totals_and_the_cap(tmp_path, rabbit_vhost):
    """Ready, unacked and consumers per queue; per-vhost totals over every queue; the cap
    keeps the same sorted queues and counts the rest; exclusions leave the totals alone."""
    extra = """    queues:
      max_series: 2
      exclude: ["^scratch"]
"""
    with amqp(rabbit_vhost) as channel:
        for queue in ("build.linux", "build.mac", "build.win", "scratch"):
            channel.queue_declare(queue)
        for queue, count in (("build.linux", 5), ("build.mac", 3), ("scratch", 4)):
            for i in range(count):
                channel.basic_publish("", queue, f"job {i}".encode())
        channel.basic_qos(prefetch_count=2)
        channel.basic_consume("build.mac", lambda *args: None, auto_ack=False)
        channel.connection.process_data_events(time_limit=0.5)
        _, engine = engine_from(tmp_path, rabbit_config(rabbit_vhost, extra=extra))
        found = collect_until(engine, lambda f: queue_value(
            f, "pagerkit_rabbitmq_queue_messages_unacknowledged", rabbit_vhost,
            "build.mac") == 2 and queue_value(
            f, "pagerkit_rabbitmq_queue_messages_ready", rabbit_vhost, "build.linux") == 5
            and queue_value(f, "pagerkit_rabbitmq_queue_consumers", rabbit_vhost,
                            "build.mac") == 1)
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    assert series(found, "pagerkit_rabbitmq_queue_messages_ready") == {
        frozenset({("source", "mq"), ("vhost", rabbit_vhost), ("queue", "build.linux")}): 5,
        frozenset({("source", "mq"), ("vhost", rabbit_vhost), ("queue", "build.mac")}): 1,
    }
    assert queue_value(found, "pagerkit_rabbitmq_queue_consumers", rabbit_vhost,
                       "build.mac") == 1
    assert queue_value(found, "pagerkit_rabbitmq_queue_consumers", rabbit_vhost,
                       "build.linux") == 0
    assert value(found, "pagerkit_rabbitmq_vhost_messages_ready", source="mq",
                 vhost=rabbit_vhost) == 5 + 1 + 4
    assert value(found, "pagerkit_rabbitmq_vhost_messages_unacknowledged", source="mq",
                 vhost=rabbit_vhost) == 2
    assert value(found, "pagerkit_rabbitmq_vhost_consumers", source="mq",
                 vhost=rabbit_vhost) == 1
    assert value(found, "pagerkit_rabbitmq_vhost_queues", source="mq", vhost=rabbit_vhost) == 4
    # build.win is wanted but beyond the cap of 2: one queue dropped, on every collection.
    assert value(found, "pagerkit_rabbitmq_queues_dropped", source="mq") == 1
    found = samples(engine.collect())
    assert value(found, "pagerkit_rabbitmq_queues_dropped", source="mq") == 1
    assert value(found, "pagerkit_rabbitmq_node_running", source="mq",
                 node=next(dict(k[1])["node"] for k in found
                           if k[0] == "pagerkit_rabbitmq_node_running")) == 1
    engine.close()


def test_canary_round_trip_on_a_healthy_broker(tmp_path, rabbit_vhost):
    _, engine = engine_from(tmp_path, rabbit_config(rabbit_vhost))
    found = samples(engine.collect())
    assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 1
    assert 0 < value(found, "pagerkit_rabbitmq_canary_roundtrip_seconds", source="mq") < 1
    found = samples(engine.collect())
    assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 1
    assert value(found, "pagerkit_rabbitmq_canary_failures_total", source="mq",
                 kind="timeout") == 0
    engine.close()


STANDIN_FAULTS = [
    ("401", "auth"), ("500", "http"), ("not_json", "decode"), ("wrong_shape", "shape"),
    ("huge", "too_large"), ("endless", "too_large"), ("drip", "timeout"),
    ("silent", "timeout"),
]


@pytest.mark.parametrize(("mode", "kind"), STANDIN_FAULTS, ids=[m for m, _ in STANDIN_FAULTS])
def test_a_misbehaving_api_costs_only_its_source(tmp_path, pg_dsn, mode, kind):
    """Each fault costs the source up 0 with the right error kind, within its 2 s
    deadline; a PostgreSQL source beside it is untouched."""
    api = StandInAPI()
    api.mode = mode
    extra = f"""    max_response_bytes: 16777216
  - name: db
    kind: postgres
    dsn: "{pg_dsn}"
"""
    _, engine = engine_from(tmp_path, rabbit_config(None, api=api.url, canary=False,
                                                    timeout="2s", extra=extra))
    try:
        start = time.monotonic()
        found = samples(engine.collect())
        assert time.monotonic() - start < 2.5
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
        assert value(found, "pagerkit_collect_errors_total", source="mq", collector="rabbitmq",
                     kind=kind) == 1
        assert value(found, "pagerkit_up", source="db", collector="postgres") == 1
    finally:
        engine.close()
        api.close()


def test_bad_items_cost_only_themselves(tmp_path):
    """A lone surrogate in a queue name is cleaned; an entry of the wrong shape is counted."""
    api = StandInAPI()
    api.queues = [
        {"name": "bad\ud800name", "vhost": "/", "messages_ready": 2,
         "messages_unacknowledged": 0, "consumers": 1},
        {"name": "no-counts", "vhost": "/", "messages_ready": "many"},
        "not an object",
        {"name": "fine", "vhost": "/", "messages_ready": 7, "messages_unacknowledged": 0,
         "consumers": 0},
    ]
    _, engine = engine_from(tmp_path, rabbit_config(None, api=api.url, canary=False))
    try:
        found = samples(engine.collect())
        again = samples(engine.collect())
    finally:
        engine.close()
        api.close()
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    assert queue_value(found, "pagerkit_rabbitmq_queue_messages_ready", "/", "bad\ufffdname") == 2
    assert queue_value(found, "pagerkit_rabbitmq_queue_messages_ready", "/", "fine") == 7
    # a gauge of the entries skipped now: the same two on the next scrape, not four
    assert value(found, "pagerkit_rabbitmq_queues_invalid", source="mq") == 2
    assert value(again, "pagerkit_rabbitmq_queues_invalid", source="mq") == 2
    assert value(found, "pagerkit_rabbitmq_vhost_messages_ready", source="mq", vhost="/") == 9


def test_requests_per_scrape_do_not_grow_with_queues(tmp_path):
    api = StandInAPI()
    api.queues = [{"name": f"q{i}", "vhost": "/", "messages_ready": i,
                   "messages_unacknowledged": 0, "consumers": 0} for i in range(5000)]
    _, engine = engine_from(tmp_path, rabbit_config(None, api=api.url, canary=False))
    try:
        found = samples(engine.collect())
    finally:
        engine.close()
        api.close()
    assert len(api.requests) == 4
    assert all("columns=" in r for r in api.requests)
    assert len(series(found, "pagerkit_rabbitmq_queue_messages_ready")) == 1000
    assert value(found, "pagerkit_rabbitmq_queues_dropped", source="mq") == 4000


def test_canary_against_a_peer_that_never_speaks_amqp(tmp_path):
    peer = SilentPeer()
    text = rabbit_config(None).replace("127.0.0.1:5672", f"127.0.0.1:{peer.port}")
    _, engine = engine_from(tmp_path, text)
    try:
        start = time.monotonic()
        found = samples(engine.collect())
        assert time.monotonic() - start < 2.5
    finally:
        engine.close()
        peer.close()
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 0
    failures = sum(v for (n, _), v in found.items()
                   if n == "pagerkit_rabbitmq_canary_failures_total")
    assert failures == 1


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("unused", [None])
def test_memory_alarm_blocks_the_canary_then_clears(tmp_path, rabbit_vhost, unused):
    """A tiny memory watermark blocks publishers: the canary fails within its timeout
    while the API still answers; it recovers once the alarm clears."""
    original = rabbitmqctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().")
    _, engine = engine_from(tmp_path, rabbit_config(rabbit_vhost))
    try:
        assert value(samples(engine.collect()), "pagerkit_rabbitmq_canary_success",
                     source="mq") == 1
        rabbitmqctl("set_vm_memory_high_watermark", "0.0000001")
        found = collect_until(engine, lambda f: value(
            f, "pagerkit_rabbitmq_node_memory_alarm", source="mq",
            node=_node(f)) == 1, seconds=30)
        start = time.monotonic()
        found = samples(engine.collect())
        assert time.monotonic() - start < 3.5
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
        assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 0
    finally:
        rabbitmqctl("set_vm_memory_high_watermark", _watermark(original))
    found = collect_until(engine, lambda f: value(
        f, "pagerkit_rabbitmq_canary_success", source="mq") == 1, seconds=30)
    assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 1
    engine.close()


def _node(found) -> str:  # type: ignore[no-untyped-def]
    return next(dict(k[1])["node"] for k in found if k[0] == "pagerkit_rabbitmq_node_running")


def _watermark(erlang_term: str) -> str:
    """``0.4`` or ``{absolute,1073741824}`` as rabbitmqctl's argument."""
    if erlang_term.startswith("{absolute,"):
        return erlang_term.split(",")[1].rstrip("}")
    return erlang_term


def test_broker_app_stopped_and_started(tmp_path, rabbit_vhost):
    """stop_app: the API and the canary fail within the timeout; start_app: both recover
    without restarting the exporter."""
    _, engine = engine_from(tmp_path, rabbit_config(rabbit_vhost))
    try:
        assert value(samples(engine.collect()), "pagerkit_up", source="mq",
                     collector="rabbitmq") == 1
        rabbitmqctl("stop_app")
        start = time.monotonic()
        found = samples(engine.collect())
        assert time.monotonic() - start < 3.5
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
        assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 0
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
    found = collect_until(engine, lambda f: value(f, "pagerkit_up", source="mq",
                                                  collector="rabbitmq") == 1 and value(
        f, "pagerkit_rabbitmq_canary_success", source="mq") == 1, seconds=60)
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    assert value(found, "pagerkit_rabbitmq_canary_success", source="mq") == 1
    engine.close()


def test_credentials_stay_out_of_metrics_and_logs(tmp_path, caplog):
    """A wrong API password and an AMQP URL with userinfo to a closed port: failures are
    reported without either secret."""
    closed = free_port()
    text = rabbit_config(None, password="api-secret-771").replace(
        "amqp://guest:guest@127.0.0.1:5672", f"amqp://guest:amqp-secret-993@127.0.0.1:{closed}")
    _, engine = engine_from(tmp_path, text)
    with caplog.at_level("DEBUG"):
        from prometheus_client.exposition import generate_latest

        from pagerkit.collect.server import _Families

        exposition = generate_latest(_Families(engine.collect())).decode()
    landing = engine.runners[0].source.describe()
    engine.close()
    assert 'kind="auth"' in exposition
    for secret in ("api-secret-771", "amqp-secret-993"):
        assert secret not in exposition
        assert secret not in caplog.text
        assert secret not in landing


def test_tls_verification_is_on_by_default(tmp_path):
    """An https API with a certificate from an unknown CA is refused; with its ca_file in
    tls_config the same API is collected."""
    from tests.harness.tlscerts import make_tls_files

    tls = make_tls_files(tmp_path)
    api = StandInAPI(tls=(str(tls.server_cert), str(tls.server_key)))
    try:
        _, engine = engine_from(tmp_path, rabbit_config(None, api=api.url, canary=False))
        found = samples(engine.collect())
        engine.close()
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
        assert value(found, "pagerkit_collect_errors_total", source="mq", collector="rabbitmq",
                     kind="connect") == 1
        extra = f"    tls_config:\n      ca_file: {tls.ca}\n"
        _, engine = engine_from(tmp_path, rabbit_config(None, api=api.url, canary=False,
                                                        extra=extra))
        found = samples(engine.collect())
        engine.close()
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    finally:
        api.close()
