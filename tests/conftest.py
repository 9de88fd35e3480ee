"""Shared fixtures: unique PostgreSQL databases, free ports, real tools."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("PAGERKIT_TEST_PG", "host=127.0.0.1 port=5432 user=postgres "
                                              "dbname=postgres")


def require(ok: bool, what: str) -> None:
    """A missing component fails the test in CI and skips it elsewhere."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; CI must have it (make test installs it)")
    pytest.skip(f"{what} is missing")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tool(name: str, package: str) -> str:
    """The path of a command the tests need; missing fails in CI, skips elsewhere."""
    path = shutil.which(name)
    require(path is not None, f"{name} (Debian package {package})")
    assert path is not None
    return path


@pytest.fixture
def promtool() -> str:
    return tool("promtool", "prometheus")


@pytest.fixture
def amtool() -> str:
    return tool("amtool", "prometheus-alertmanager")


def promtool_check_metrics(promtool: str, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=30, check=False)


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require(False, f"PostgreSQL at {PG_ADMIN} ({exc})")
        raise


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database with the example jobs table, dropped afterwards."""
    name = f"pagerkit_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute((ROOT / "examples" / "jobs.sql").read_text())
        yield dsn
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


RABBIT_API = os.environ.get("PAGERKIT_TEST_RABBIT_API", "http://127.0.0.1:15672")
RABBIT_AUTH = ("guest", "guest")


@pytest.fixture
def rabbit_vhost() -> Iterator[str]:
    """A fresh vhost on the local RabbitMQ, guest allowed, deleted afterwards."""
    from urllib.parse import quote

    import requests

    name = f"pagerkit-test-{uuid.uuid4().hex[:12]}"
    url = f"{RABBIT_API}/api/vhosts/{quote(name, safe='')}"
    try:
        created = requests.put(url, auth=RABBIT_AUTH, timeout=10)
    except requests.exceptions.ConnectionError as exc:
        require(False, f"the RabbitMQ management API at {RABBIT_API} ({exc})")
        raise
    assert created.status_code in (201, 204), created.text
    perms = requests.put(f"{RABBIT_API}/api/permissions/{quote(name, safe='')}/guest",
                         json={"configure": ".*", "write": ".*", "read": ".*"},
                         auth=RABBIT_AUTH, timeout=10)
    assert perms.status_code in (201, 204), perms.text
    try:
        yield name
    finally:
        requests.delete(url, auth=RABBIT_AUTH, timeout=30)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's specs, generated files and playbooks."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    shutil.copytree(ROOT / "alertmanager", tmp_path / "alertmanager")
    shutil.copytree(ROOT / "grafana", tmp_path / "grafana")
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "pagerkit.yaml", tmp_path / "examples" / "pagerkit.yaml")
    return tmp_path
