"""Secrets: expansion, defaults, printing, scrubbing."""

from __future__ import annotations

import pytest

from pagerkit.secrets import (
    MissingVariable,
    Redactor,
    Secret,
    expand_env,
    is_secret_key,
    only_references,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("${A}", "alpha"),
    ("x-${A}-${B}", "x-alpha-"),
    ("${UNSET:-fallback}", "fallback"),
    ("${B:-fallback}", "fallback"),
    ("${A:-fallback}", "alpha"),
    ("$${A}", "${A}"),
])
def test_expand_env(text, expected):
    assert expand_env(text, {"A": "alpha", "B": ""}) == expected


def test_missing_variable_is_named():
    with pytest.raises(MissingVariable) as caught:
        expand_env("${NOPE}", {})
    assert caught.value.name == "NOPE"


def test_secret_prints_stars():
    secret = Secret("hunter2")
    assert str(secret) == "***" and "hunter2" not in repr(secret)
    assert f"{secret}" == "***"


def test_redactor_scrubs_known_values_and_userinfo():
    redactor = Redactor()
    redactor.add(Secret("hunter2"))
    text = redactor.scrub("failed: hunter2 at amqp://user:other@host:5672/ and https://a@b/")
    assert text == "failed: *** at amqp://***@host:5672/ and https://***@b/"


@pytest.mark.parametrize(("key", "secret"), [
    ("password", True), ("auth_token", True), ("token", True), ("pushover_user_key", True),
    ("signing_key", True), ("dsn", True), ("webhook_url", True), ("api_key", True),
    ("password_file", False), ("token_file", False), ("key_file", False), ("url", False),
    ("username", False), ("name", False), (0, False),
])
def test_secret_bearing_keys(key, secret):
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(("text", "references"), [
    ("${PW}", True), ("${PW:-guest}", True), ("${A}${B}", True), (" ${PW} ", True),
    ("hunter2", False), ("pre${PW}", False), ("${PW}post", False), ("", False),
    ("$${PW}", False), ("${PW", False),
])
def test_only_references(text, references):
    assert only_references(text) is references
