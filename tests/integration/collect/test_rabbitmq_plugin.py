"""The RabbitMQ source through the rabbitmq_prometheus plugin: a real two-node cluster of
its own (management metrics collector disabled), and stand-in nodes that misbehave."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator

import pika
import pytest
import requests

from tests.conftest import free_port, require
from tests.harness.netfaults import FreezableProxy
from tests.harness.rabbitcluster import RabbitCluster, RabbitNode
from tests.harness.standin_api import StandInAPI
from tests.harness.support import collect_once, engine_from, samples, series, value

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
SLACK = 0.4
"""The engine's abort grace and scheduling on a shared 2-core machine."""
QUEUES = {  # node index -> {(vhost, queue): messages}
    0: {("/", "a.1"): 1, ("/", "a.2"): 2, ("ci", "a.3"): 3},
    1: {("/", "b.1"): 4, ("ci", "b.2"): 5},
}


def plugin_config(nodes: list[str], *, extra: str = "", timeout: float = TIMEOUT) -> str:
    return f"""
sources:
  - name: mq
    kind: rabbitmq
    via: prometheus
    nodes: [{", ".join(nodes)}]
    timeout: {timeout:g}s
{extra}"""


@contextlib.contextmanager
def amqp(node: RabbitNode, vhost: str) -> Iterator[pika.adapters.blocking_connection.
                                                 BlockingChannel]:
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", node.amqp_port, vhost, pika.PlainCredentials("guest", "guest")))
    try:
        yield conn.channel()
    finally:
        with contextlib.suppress(Exception):
            conn.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    """Two nodes, each the home of its own durable queues (persistent messages, so that
    they come back with their node), in two vhosts."""
    started = RabbitCluster(2)
    try:
        first = started.nodes[0]
        started.ctl(first, "add_vhost", "ci")
        started.ctl(first, "set_permissions", "-p", "ci", "guest", ".*", ".*", ".*")
        for index, queues in QUEUES.items():
            node = started.nodes[index]
            for (vhost, queue), count in queues.items():
                with amqp(node, vhost) as channel:
                    channel.queue_declare(queue, durable=True, arguments={
                        "x-queue-master-locator": "client-local"})
                    for i in range(count):
                        channel.basic_publish("", queue, f"m{i}".encode(),
                                              pika.BasicProperties(delivery_mode=2))
        for node in started.nodes:
            started.wait_plugin(node)
        yield started
    finally:
        started.close()


def collect_until(engine, predicate, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """Queues publish their figures every second (collect_statistics_interval)."""
    deadline = time.monotonic() + seconds
    while True:
        found = samples(engine.collect())
        if predicate(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def ready_by_queue(found) -> dict[tuple[str, str], float]:  # type: ignore[no-untyped-def]
    return {(dict(k)["vhost"], dict(k)["queue"]): v
            for k, v in series(found, "pagerkit_rabbitmq_queue_messages_ready").items()}


def expected(*indexes: int) -> dict[tuple[str, str], float]:
    return {key: float(n) for i in indexes for key, n in QUEUES[i].items()}


def complete(found) -> bool:  # type: ignore[no-untyped-def]
    return ready_by_queue(found) == expected(0, 1)


def test_every_queue_of_every_node_counted_once(tmp_path, cluster):
    _, engine = engine_from(tmp_path, plugin_config([n.plugin_url for n in cluster.nodes]))
    try:
        found = collect_until(engine, complete)
    finally:
        engine.close()
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    assert ready_by_queue(found) == expected(0, 1)
    assert value(found, "pagerkit_rabbitmq_vhost_messages_ready", source="mq", vhost="/") == 7
    assert value(found, "pagerkit_rabbitmq_vhost_messages_ready", source="mq", vhost="ci") == 8
    assert value(found, "pagerkit_rabbitmq_vhost_queues", source="mq", vhost="/") == 3
    assert value(found, "pagerkit_rabbitmq_vhost_queues", source="mq", vhost="ci") == 2
    assert value(found, "pagerkit_rabbitmq_queues", source="mq") == 5
    for node in cluster.nodes:
        assert value(found, "pagerkit_rabbitmq_node_up", source="mq", node=node.name) == 1
        assert value(found, "pagerkit_rabbitmq_node_memory_limit_bytes", source="mq",
                     node=node.name) > 0
    assert value(found, "pagerkit_rabbitmq_queues_missing", source="mq") == 0
    info = [dict(k) for k in series(found, "pagerkit_rabbitmq_info")]
    assert len(info) == 1
    assert info[0]["cluster_name"].startswith(f"pk1-{cluster.tag}@")


def test_the_management_api_without_its_collector_has_no_queue_figures(tmp_path, cluster):
    """The same broker through the management API gets no queue figure at all (its
    /api/consumers answers 400 without the collector), where the plugin gives them all."""
    text = f"""
sources:
  - name: mq
    kind: rabbitmq
    url: {cluster.nodes[0].management_url}
    timeout: {TIMEOUT:g}s
"""
    found = collect_once(tmp_path, text)
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
    assert value(found, "pagerkit_collect_errors_total", source="mq", collector="rabbitmq",
                 kind="http") == 1
    assert series(found, "pagerkit_rabbitmq_queue_messages_ready") == {}
    _, engine = engine_from(tmp_path, plugin_config([n.plugin_url for n in cluster.nodes]))
    try:
        found = collect_until(engine, complete)
    finally:
        engine.close()
    assert ready_by_queue(found) == expected(0, 1)


def test_a_stopped_node_costs_its_queues_until_it_is_back(tmp_path, cluster):
    """stop_app on the second node: its queues are reported missing, up says the figures
    are incomplete, the scrape stays within the deadline; start_app: complete again
    without restarting the exporter."""
    second = cluster.nodes[1]
    _, engine = engine_from(tmp_path, plugin_config([n.plugin_url for n in cluster.nodes]))
    try:
        assert complete(collect_until(engine, complete))
        cluster.ctl(second, "stop_app")
        start = time.monotonic()
        found = samples(engine.collect())
        assert time.monotonic() - start < TIMEOUT + SLACK
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
        assert value(found, "pagerkit_collect_errors_total", source="mq",
                     collector="rabbitmq", kind="node") == 1
        assert value(found, "pagerkit_rabbitmq_node_up", source="mq", node=second.name) == 0
        assert value(found, "pagerkit_rabbitmq_node_running", source="mq",
                     node=second.name) == 0
        assert value(found, "pagerkit_rabbitmq_node_up", source="mq",
                     node=cluster.nodes[0].name) == 1
        assert value(found, "pagerkit_rabbitmq_queues_missing", source="mq") == 2
        assert ready_by_queue(found) == expected(0)
        assert value(found, "pagerkit_rabbitmq_vhost_messages_ready", source="mq",
                     vhost="/") == 3
    finally:
        cluster.ctl(second, "start_app")
        cluster.ctl(second, "await_startup", timeout=120)
    try:
        cluster.wait_plugin(second)
        found = collect_until(engine, complete, seconds=30)
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
        assert ready_by_queue(found) == expected(0, 1)
        assert value(found, "pagerkit_rabbitmq_queues_missing", source="mq") == 0
    finally:
        engine.close()


def test_a_node_that_never_answers_is_cut_at_the_deadline(tmp_path, cluster):
    """A frozen path to the second node (its host hung): every scrape returns within
    the deadline with the first node's figures, and the first after the thaw is whole."""
    proxy = FreezableProxy(cluster.nodes[1].prometheus_port)
    nodes = [cluster.nodes[0].plugin_url, f"http://127.0.0.1:{proxy.port}"]
    _, engine = engine_from(tmp_path, plugin_config(nodes, timeout=1.0))
    try:
        assert complete(collect_until(engine, complete))
        proxy.freeze()
        for scrape in (1, 2):
            start = time.monotonic()
            found = samples(engine.collect())
            assert time.monotonic() - start < 1.0 + SLACK
            assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
            assert value(found, "pagerkit_collect_errors_total", source="mq",
                         collector="rabbitmq", kind="node") == scrape
            assert value(found, "pagerkit_rabbitmq_node_up", source="mq",
                         node=cluster.nodes[1].name) == 0
            assert ready_by_queue(found) == expected(0)
            assert value(found, "pagerkit_rabbitmq_queues_missing", source="mq") == 2
        proxy.thaw()
        found = collect_until(engine, complete)
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    finally:
        engine.close()
        proxy.close()


def test_discovery_through_the_management_api(tmp_path, cluster):
    """Discovered nodes are checked by name: this cluster's API has no listeners
    (metrics collector off), so its nodes' assumed default port 15692 reaches another
    broker, which is refused rather than read as theirs."""
    text = f"""
sources:
  - name: mq
    kind: rabbitmq
    via: prometheus
    url: {cluster.nodes[0].management_url}
    timeout: {TIMEOUT:g}s
"""
    found = collect_once(tmp_path, text)
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
    assert ready_by_queue(found) == {}
    for node in cluster.nodes:
        assert value(found, "pagerkit_rabbitmq_node_up", source="mq", node=node.name) == 0


def test_discovery_of_the_local_broker(tmp_path):
    """The machine's broker, read only: its API lists its one node with the plugin's
    listener, and the plugin answers as that node."""
    try:
        nodes = requests.get("http://127.0.0.1:15672/api/nodes", auth=("guest", "guest"),
                             params={"columns": "name"}, timeout=10).json()
        plugin = requests.get("http://127.0.0.1:15692/metrics", timeout=10).status_code == 200
    except requests.RequestException:
        plugin = False
    require(plugin, "the local broker's rabbitmq_prometheus plugin on 127.0.0.1:15692 "
                    "(scripts/ensure-services.sh enables it)")
    text = """
sources:
  - name: mq
    kind: rabbitmq
    via: prometheus
    url: http://127.0.0.1:15672
    timeout: 5s
"""
    found = collect_once(tmp_path, text)
    assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
    assert value(found, "pagerkit_rabbitmq_node_up", source="mq",
                 node=nodes[0]["name"]) == 1


METRICS = """# TYPE rabbitmq_identity_info untyped
rabbitmq_identity_info{rabbitmq_node="NODE",rabbitmq_cluster="standin"} 1
# TYPE rabbitmq_build_info untyped
rabbitmq_build_info{rabbitmq_version="4.1.0",erlang_version="27"} 1
# TYPE rabbitmq_process_open_fds gauge
rabbitmq_process_open_fds 10
# TYPE rabbitmq_process_max_fds gauge
rabbitmq_process_max_fds 1024
# TYPE rabbitmq_queues gauge
rabbitmq_queues 1
"""


class PluginStandIn(StandInAPI):
    """A node's plugin: ``/metrics`` and ``/metrics/detailed`` with one queue of its own,
    or, with ``mode = "all:<fault>"``, the management stand-in's faults on both."""

    def __init__(self, node: str, queue: str) -> None:
        super().__init__()
        self.node, self.queue = node, queue

    def answer(self, handler, mode, body):  # type: ignore[no-untyped-def]
        if mode != "ok":
            return super().answer(handler, mode, body)
        identity = METRICS.split("\n# TYPE rabbitmq_build_info")[0].replace("NODE", self.node)
        if handler.path.startswith("/metrics/detailed"):
            text = "".join(
                f'# TYPE rabbitmq_detailed_queue_{f} gauge\n'
                f'rabbitmq_detailed_queue_{f}{{vhost="/",queue="{self.queue}"}} {n}\n'
                for f, n in (("messages_ready", 7), ("messages_unacked", 1),
                             ("consumers", 2))) + identity + "\n"
        else:
            text = METRICS.replace("NODE", self.node)
        return self._send(handler, 200, text.encode())


FAULTS = [("refused", "connect"), ("401", "auth"), ("500", "http"), ("garbage", "decode"),
          ("not_json", "decode"), ("truncated", "connect"), ("endless", "too_large"),
          ("huge", "too_large"), ("silent", "timeout"), ("drip", "timeout")]


@pytest.mark.parametrize(("fault", "kind"), FAULTS, ids=[f for f, _ in FAULTS])
def test_a_misbehaving_node_costs_only_its_own_figures(tmp_path, fault, kind, caplog):
    """Each fault on one of two nodes: bounded by the deadline, counted as a node
    failure (its kind in the log), the other node's queue still served."""
    good, bad = PluginStandIn("rabbit@good", "good.q"), PluginStandIn("rabbit@bad", "bad.q")
    bad_url = bad.url if fault != "refused" else f"http://127.0.0.1:{free_port()}"
    extra = "    max_response_bytes: 16777216\n"
    _, engine = engine_from(tmp_path, plugin_config([good.url, bad_url], extra=extra,
                                                    timeout=1.0))
    try:
        bad.mode = f"all:{fault}"
        with caplog.at_level("WARNING"):
            start = time.monotonic()
            found = samples(engine.collect())
            assert time.monotonic() - start < 1.0 + SLACK
        assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 0
        assert value(found, "pagerkit_collect_errors_total", source="mq",
                     collector="rabbitmq", kind="node") == 1
        assert f"{kind} (" in caplog.text
        assert ready_by_queue(found) == {("/", "good.q"): 7}
        assert value(found, "pagerkit_rabbitmq_node_up", source="mq", node="rabbit@good") == 1
        bad.mode = "ok"
        if fault != "refused":
            found = samples(engine.collect())
            assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
            assert ready_by_queue(found) == {("/", "good.q"): 7, ("/", "bad.q"): 7}
    finally:
        engine.close()
        good.close()
        bad.close()


def test_a_single_node_failure_keeps_its_own_kind(tmp_path):
    """With every node down, the failure is the node's own (auth here), as on the
    management path, not the partial ``node``."""
    only = PluginStandIn("rabbit@only", "q")
    only.mode = "all:401"
    _, engine = engine_from(tmp_path, plugin_config([only.url]))
    try:
        found = samples(engine.collect())
    finally:
        engine.close()
        only.close()
    assert value(found, "pagerkit_collect_errors_total", source="mq", collector="rabbitmq",
                 kind="auth") == 1


class GuardedPlugin(PluginStandIn):
    """A plugin that asks for basic auth (``guarded``) or not, and notes what each
    request brought: its path and its ``Authorization`` header."""

    def __init__(self, node: str, queue: str, guarded: bool) -> None:
        super().__init__(node, queue)
        self.guarded = guarded
        self.seen: list[tuple[str, str | None]] = []

    def answer(self, handler, mode, body):  # type: ignore[no-untyped-def]
        given = handler.headers.get("Authorization")
        self.seen.append((handler.path.split("?")[0], given))
        if self.guarded and given != "Basic " + base64.b64encode(b"guest:guest").decode():
            handler.send_response(401)
            handler.send_header("WWW-Authenticate", 'Basic realm="RabbitMQ"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        return super().answer(handler, mode, body)


@pytest.mark.parametrize("guarded", [False, True], ids=["open", "guarded"])
def test_credentials_go_only_to_a_plugin_that_asks_for_them(tmp_path, guarded):
    """An open plugin (RabbitMQ's default) never gets the password, which it would check
    on every request; a guarded one gets it after its first 401 and on every request
    after, and both scrapes are complete."""
    node = GuardedPlugin("rabbit@one", "q", guarded)
    _, engine = engine_from(tmp_path, plugin_config([node.url]))
    try:
        for _ in range(2):
            found = samples(engine.collect())
            assert value(found, "pagerkit_up", source="mq", collector="rabbitmq") == 1
            assert ready_by_queue(found) == {("/", "q"): 7}
    finally:
        engine.close()
        node.close()
    paths = ("/metrics", "/metrics/detailed")
    if not guarded:
        assert all(given is None for _, given in node.seen)
        assert sorted(path for path, _ in node.seen) == sorted(paths * 2)
        return
    for path in paths:  # one refusal each, then the password on every request
        assert [given is not None for p, given in node.seen if p == path] == [
            False, True, True]


def test_a_wrong_password_is_an_auth_failure_after_one_retry(tmp_path):
    node = GuardedPlugin("rabbit@one", "q", guarded=True)
    text = plugin_config([node.url], extra="    password: ${WRONG}\n")
    _, engine = engine_from(tmp_path, text, {"WRONG": "not-the-password"})
    try:
        for _ in range(2):
            found = samples(engine.collect())
    finally:
        engine.close()
        node.close()
    assert value(found, "pagerkit_collect_errors_total", source="mq", collector="rabbitmq",
                 kind="auth") == 2
    # per endpoint: the bare first try, the retry with the password, then the password
    assert [given is not None for p, given in node.seen if p == "/metrics"] == [
        False, True, True]
