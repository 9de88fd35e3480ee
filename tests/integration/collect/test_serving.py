"""Serving /metrics the way Prometheus scrapes it, and staying up under abuse."""

from __future__ import annotations

import socket
import threading
import time

import bcrypt
import psycopg
import pytest
import requests

from tests.conftest import free_port, promtool_check_metrics
from tests.harness.exporter_process import ExporterProcess
from tests.harness.support import write_config
from tests.harness.tlscerts import make_tls_files

pytestmark = pytest.mark.integration

LABEL_QUERY = """
    queries:
      - name: labels
        sql: |
          SELECT * FROM (VALUES
            ('say "hi"', 1), (E'two\\nlines', 2), (E'back\\\\slash', 3),
            (repeat('x', 5000), 4), ('ünïcødé ✓', 5)) AS v(name, n)
        metrics:
          - {name: odd_labels, type: gauge, value: n, labels: [name], help: Odd labels.}
"""


def config_text(dsn: str, port: int, extra: str = "", web: str = "") -> str:
    return f"""
web:
  listen_address: "127.0.0.1:{port}"
{web}
sources:
  - name: db
    kind: postgres
    dsn: "{dsn}"
    timeout: 3s
""" + "\n".join("    " + line[4:] if line.strip() else line for line in extra.splitlines())


@pytest.fixture
def exporter(tmp_path, pg_dsn):
    port = free_port()
    proc = ExporterProcess(write_config(tmp_path, config_text(pg_dsn, port, LABEL_QUERY)), port)
    yield proc
    assert proc.stop() == 0


def test_odd_label_values_pass_promtool(exporter, promtool):
    """Quotes, newlines, backslashes, 5,000 characters and non-ASCII: a valid exposition."""
    response = requests.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'odd_labels{name="say \\"hi\\"",source="db"} 1.0' in text
    assert 'odd_labels{name="two\\nlines",source="db"} 2.0' in text
    assert 'pagerkit_up{collector="postgres",source="db"} 1.0' in text
    checked = promtool_check_metrics(promtool, text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_openmetrics_when_asked(exporter):
    response = requests.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5,
                            headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_landing_page_lists_sources(exporter):
    response = requests.get(f"http://127.0.0.1:{exporter.port}/", timeout=5)
    assert response.status_code == 200
    assert "<td>db</td><td>postgres</td>" in response.text
    assert 'href="metrics"' in response.text
    assert requests.get(f"http://127.0.0.1:{exporter.port}/nope", timeout=5).status_code == 404


def test_scrape_timeout_header_is_honoured(tmp_path, pg_dsn):
    """Prometheus says 1 s: a 3 s source's hung query is cut short to answer in time."""
    slow = """
    queries:
      - name: slow
        sql: SELECT pg_sleep(30) AS s, 1 AS one
        metrics:
          - {name: slow_one, type: gauge, value: one, help: Never served.}
"""
    port = free_port()
    proc = ExporterProcess(write_config(tmp_path, config_text(pg_dsn, port, slow)), port)
    try:
        start = time.monotonic()
        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10,
                                headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
        assert time.monotonic() - start < 1.6
        assert 'pagerkit_query_up{query="slow",source="db"} 0.0' in response.text
    finally:
        assert proc.stop() == 0


def _tls_exporter(tmp_path, pg_dsn, auth_type: str = "NoClientCert"):  # type: ignore[no-untyped-def]
    tls = make_tls_files(tmp_path)
    hashed = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(rounds=10)).decode()
    client_ca = f"\n  client_ca_file: {tls.ca}" if auth_type != "NoClientCert" else ""
    (tmp_path / "web.yml").write_text(f"""
tls_server_config:
  cert_file: {tls.server_cert}
  key_file: {tls.server_key}
  client_auth_type: {auth_type}{client_ca}
basic_auth_users:
  prometheus: '{hashed}'
""")
    port = free_port()
    config = write_config(tmp_path, config_text(pg_dsn, port, web="  config_file: web.yml"))
    return ExporterProcess(config, port), tls


def test_tls_and_basic_auth(tmp_path, pg_dsn):
    """401 without credentials or with wrong ones, 200 with them; plain HTTP is not served."""
    proc, tls = _tls_exporter(tmp_path, pg_dsn)
    url = f"https://127.0.0.1:{proc.port}/metrics"
    try:
        assert requests.get(url, verify=tls.ca, timeout=5).status_code == 401
        wrong = requests.get(url, verify=tls.ca, timeout=5, auth=("prometheus", "nope"))
        assert wrong.status_code == 401
        ok = requests.get(url, verify=tls.ca, timeout=5, auth=("prometheus", "scrape-pass"))
        assert ok.status_code == 200
        assert 'pagerkit_up{collector="postgres",source="db"} 1.0' in ok.text
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{proc.port}/metrics", timeout=5,
                         auth=("prometheus", "scrape-pass"))
    finally:
        assert proc.stop() == 0


def test_client_certificates_required(tmp_path, pg_dsn):
    """RequireAndVerifyClientCert: no certificate, no connection; with one, the scrape works."""
    proc, tls = _tls_exporter(tmp_path, pg_dsn, "RequireAndVerifyClientCert")
    url = f"https://127.0.0.1:{proc.port}/metrics"
    try:
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, verify=tls.ca, timeout=5, auth=("prometheus", "scrape-pass"))
        ok = requests.get(url, verify=tls.ca, timeout=5, auth=("prometheus", "scrape-pass"),
                          cert=(str(tls.client_cert), str(tls.client_key)))
        assert ok.status_code == 200
    finally:
        assert proc.stop() == 0


def _timed_scrape(url: str, **kwargs) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    response = requests.get(url, timeout=5, **kwargs)
    assert response.status_code == 200
    return time.monotonic() - start


def test_silent_tls_clients_and_idle_connections(tmp_path, pg_dsn):
    """A client that never sends its ClientHello and 500 idle connections: scrapes still
    answer in under a second, and threads and descriptors return to their baseline."""
    proc, tls = _tls_exporter(tmp_path, pg_dsn)
    url = f"https://127.0.0.1:{proc.port}/metrics"
    auth = ("prometheus", "scrape-pass")
    try:
        _timed_scrape(url, verify=tls.ca, auth=auth)
        time.sleep(6)  # let the warm-up connection's keep-alive expire
        base_threads, base_fds = proc.threads(), proc.fds()
        silent = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(20)]
        idle = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(500)]
        half = socket.create_connection(("127.0.0.1", proc.port))
        half.sendall(b"\x16\x03\x01")  # the first bytes of a TLS record, then nothing
        times = [_timed_scrape(url, verify=tls.ca, auth=auth) for _ in range(5)]
        assert max(times) < 1.0, times
        for sock in [*silent, *idle, half]:
            sock.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.threads() <= base_threads and proc.fds() <= base_fds:
                break
            time.sleep(0.5)
        assert proc.threads() <= base_threads
        assert proc.fds() <= base_fds
    finally:
        assert proc.stop() == 0


def test_idle_connections_are_closed_by_the_server(tmp_path, pg_dsn):
    """An idle plain-HTTP connection is closed by the server within about 5 s."""
    port = free_port()
    proc = ExporterProcess(write_config(tmp_path, config_text(pg_dsn, port)), port)
    try:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        for sock in [*idle, half]:
            sock.settimeout(10)
        start = time.monotonic()
        assert all(sock.recv(1) == b"" for sock in idle)
        half.recv(65536)
        assert time.monotonic() - start < 8
    finally:
        assert proc.stop() == 0


def test_ten_concurrent_scrapes_share_one_collection(tmp_path):
    """Ten scrapes during a 1 s collection run the application query exactly once."""
    from tests.harness.pgcluster import PrivateCluster

    cluster = PrivateCluster(free_port(), {"shared_preload_libraries": "'pg_stat_statements'"})
    try:
        cluster.start()
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        slow = """
    queries:
      - name: slow
        sql: SELECT pg_sleep(1) AS s, 42 AS answer
        metrics:
          - {name: the_answer, type: gauge, value: answer, help: The answer.}
"""
        port = free_port()
        proc = ExporterProcess(write_config(tmp_path, config_text(cluster.dsn, port, slow)),
                               port)
        try:
            results: list[str] = []

            def scrape() -> None:
                results.append(requests.get(f"http://127.0.0.1:{port}/metrics",
                                            timeout=10).text)

            threads = [threading.Thread(target=scrape) for _ in range(10)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            assert proc.stop() == 0
        assert len(results) == 10
        assert all('the_answer{source="db"} 42.0' in text for text in results)
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            calls = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                 "WHERE query LIKE '%pg_sleep(%AS answer%'").fetchone()
            health = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                  "WHERE query LIKE '%FROM pg_stat_replication%'").fetchone()
        assert calls == (1,)
        assert health == (1,)
    finally:
        cluster.destroy()



def test_golden_scrape_passes_promtool(promtool):
    from tests.conftest import ROOT

    checked = promtool_check_metrics(promtool, (ROOT / "tests/golden/postgres.prom").read_text())
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_secrets_stay_out_of_metrics_logs_and_pages(tmp_path):
    """Passwords in a DSN's userinfo and in an environment variable, to servers that
    refuse or fail: neither appears in /metrics, the landing page or the JSON logs."""
    closed = free_port()
    port = free_port()
    config = write_config(tmp_path, f"""
web:
  listen_address: "127.0.0.1:{port}"
log:
  level: debug
  format: json
sources:
  - name: uri
    kind: postgres
    dsn: "postgresql://app:uri-secret-4711@127.0.0.1:{closed}/app"
    timeout: 2s
  - name: env
    kind: postgres
    dsn: "host=127.0.0.1 port={closed} user=app dbname=app"
    password: ${{PAGERKIT_TEST_PASSWORD}}
    timeout: 2s
""")
    proc = ExporterProcess(config, port, env={"PAGERKIT_TEST_PASSWORD": "env-secret-0815"})
    try:
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        landing = requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
    finally:
        assert proc.stop() == 0
    logs = proc.stderr()
    assert 'pagerkit_up{collector="postgres",source="uri"} 0.0' in metrics
    assert "source uri is down" in logs
    for text in (metrics, landing, logs):
        assert "uri-secret-4711" not in text
        assert "env-secret-0815" not in text
    import json

    for line in logs.splitlines():
        assert json.loads(line)["level"] in ("debug", "info", "warning", "error")


def test_bad_config_exits_2_before_listening(tmp_path):
    import subprocess

    from tests.harness.exporter_process import PAGERKIT

    port = free_port()
    config = write_config(tmp_path, f"web:\n  listen_address: '127.0.0.1:{port}'\n"
                                    "sources: []\n")
    done = subprocess.run([*PAGERKIT, "serve", "--config", str(config)], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert f"{config}:3: sources must not be empty" in done.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5)


def test_a_lone_surrogate_still_passes_promtool(promtool):
    """A label value with a lone surrogate (a queue name from a JSON escape) is cleaned
    by the engine: the exposition stays valid."""
    from pagerkit.collect.engine import Engine
    from pagerkit.collect.server import encode
    from tests.unit.collect.test_engine import StandInSource

    engine = Engine([StandInSource("s", label="bad\ud800value")])
    body, _ = encode(engine.collect(), "")
    checked = promtool_check_metrics(promtool, body.decode())
    assert checked.returncode == 0, checked.stdout + checked.stderr


ROUTES = ("/", "/metrics", "/playbooks", "/playbooks/", "/playbooks/jobs.md",
          "/playbooks/nope.md", "/nope")


@pytest.fixture
def guarded(tmp_path, pg_dsn):
    """The exporter with basic auth and the playbooks: every route there is."""
    from tests.conftest import ROOT

    hashed = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    port = free_port()
    web = f"  config_file: web.yml\n  playbooks_dir: {ROOT / 'playbooks'}"
    proc = ExporterProcess(write_config(tmp_path, config_text(pg_dsn, port, web=web)), port)
    yield proc
    assert proc.stop() == 0


def _exchange(port: int, method: str, path: str, auth: bool
              ) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, then a GET of /nope on the same one: a body
    sent after a HEAD answer would be read as the second status line and fail it."""
    import base64
    import http.client

    headers = {"Authorization": "Basic " + base64.b64encode(b"prometheus:scrape-pass")
               .decode()} if auth else {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        answer = (response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        conn.request("GET", "/nope")
        follow = conn.getresponse()
        assert (follow.status, follow.read()) == (404, b"not found\n"), (method, path)
        return answer
    finally:
        conn.close()


@pytest.mark.parametrize("auth", [True, False], ids=["credentials", "none"])
def test_head_answers_like_get_without_a_body_on_every_route(guarded, auth):
    for path in ROUTES:
        got_status, got_headers, got_body = _exchange(guarded.port, "GET", path, auth)
        status, headers, body = _exchange(guarded.port, "HEAD", path, auth)
        assert body == b"" and status == got_status, (path, status, got_status)
        for name in ("content-type", "www-authenticate", "location", "allow"):
            assert headers.get(name) == got_headers.get(name), (path, name)
        assert int(headers["content-length"]) > 0 or path == "/playbooks", path
        if path != "/metrics":  # a collection's length varies with its durations
            assert headers["content-length"] == str(len(got_body)), path
    # without credentials, only what is no route at all is told apart: 404
    expected = {"/playbooks": 301, "/playbooks/nope.md": 404, "/nope": 404}
    for path in ROUTES:
        status = _exchange(guarded.port, "HEAD", path, auth)[0]
        want = expected.get(path, 200) if auth or path == "/nope" else 401
        assert status == want, path


def test_only_get_and_head_are_served(guarded):
    """Any other method is 405 naming the two, on every route the exporter has."""
    for path in ROUTES:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            status, headers, body = _exchange(guarded.port, method, path, True)
            if path == "/nope":
                assert status == 404, (method, path)
                continue
            assert (status, headers["allow"], body) == (405, "GET, HEAD",
                                                        b"use GET or HEAD\n"), (method, path)
