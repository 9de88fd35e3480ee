"""The exporter's basic auth, without a server: verdicts, odd headers, who a client is."""

from __future__ import annotations

import base64
import threading

import bcrypt
import pytest

from pagerkit.collect.server import BasicAuth, client_of, dummy_hash

HASH = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=4))


def header(user: str | bytes, password: str | bytes) -> str:
    raw = (user if isinstance(user, bytes) else user.encode()) + b":" + (
        password if isinstance(password, bytes) else password.encode())
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def auth() -> BasicAuth:
    return BasicAuth([("prometheus", HASH)])


@pytest.mark.parametrize(("value", "status"), [
    (header("prometheus", "right"), 200),
    (header("prometheus", "right"), 200),  # again: from the cache
    (header("prometheus", "wrong"), 401),
    (header("nobody", "right"), 401),
    (header("prometheus", "right" + "x" * 80), 401),  # over bcrypt's 72 bytes
    (header("prometheus", "x" * 100), 401),
    (header(b"prometheus\xff", "right"), 401),
    (None, 401), ("", 401), ("Bearer abc", 401), ("Basic !!!", 401),
    ("Basic " + base64.b64encode(b"no-colon").decode(), 401),
    ("basic " + base64.b64encode(b"prometheus:right").decode(), 200),
])
def test_verdicts(auth: BasicAuth, value: str | None, status: int) -> None:
    assert auth.check(value, "10.0.0.1") == status
    assert auth.check(value, "10.0.0.1") == status  # the cached verdict is the same


def test_the_dummy_hash_has_the_users_cost() -> None:
    """An unknown user is checked against a hash as costly as the dearest user's."""
    cheap = bcrypt.hashpw(b"a", bcrypt.gensalt(rounds=4))
    dear = bcrypt.hashpw(b"b", bcrypt.gensalt(rounds=6))
    assert dummy_hash([cheap, dear]).startswith(b"$2b$06$")
    assert not bcrypt.checkpw(b"", dummy_hash([cheap]))


def test_identical_credentials_checked_at_once_share_one_verdict(auth: BasicAuth) -> None:
    """Ten scrapes with the same new credentials from one address, at the same moment:
    all 200 (one bcrypt check, the others wait for its verdict), none 429."""
    results: list[int] = []
    start = threading.Barrier(10)

    def scrape() -> None:
        start.wait()
        results.append(auth.check(header("prometheus", "right"), "10.0.0.1"))

    threads = [threading.Thread(target=scrape) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 10


@pytest.mark.parametrize(("address", "client"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("", ""), ("unix-socket", "unix-socket"),
])
def test_a_client_is_its_address_or_its_ipv6_64(address: str, client: str) -> None:
    assert client_of(address) == client
