"""The RabbitMQ source's configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...secrets import REDACTOR, Secret
from ...validation import ParseContext

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_QUEUES = 1000
DEFAULT_CANARY_TIMEOUT = 2.0
CANARY_QUEUE_PREFIX = "pagerkit.canary."
"""The canary's own queues: left out of the queue metrics, they are not the platform's."""


@dataclass(frozen=True)
class QueueFilter:
    per_queue: bool
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    max_series: int
    message_stats: bool

    def wants(self, name: str) -> bool:
        """Per-queue series for ``name``: it matches an include (if any) and no exclude."""
        if self.include and not any(p.search(name) for p in self.include):
            return False
        return not any(p.search(name) for p in self.exclude)


@dataclass(frozen=True)
class CanaryConfig:
    url: Secret
    timeout: float

    def display_url(self) -> str:
        return redact_userinfo(self.url.reveal())


@dataclass(frozen=True)
class RabbitMQConfig:
    name: str
    kind: str
    url: str
    username: str
    password: Secret
    ca_file: Path | None
    client_cert: tuple[str, str] | None
    verify: bool
    timeout: float
    max_response_bytes: int
    vhosts: tuple[str, ...]
    queues: QueueFilter
    canary: CanaryConfig | None
    via: str = "management"
    """``management`` (the management API at ``url``) or ``prometheus`` (every node's
    rabbitmq_prometheus plugin: ``nodes``, or discovered through ``url``)."""
    nodes: tuple[str, ...] = ()


def redact_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_source(ctx: ParseContext, raw: dict[str, Any]) -> RabbitMQConfig:
    password = ctx.secret(raw, "password") or Secret("guest")
    tls = raw.get("tls_config", {})
    tls_ctx = ParseContext(ctx.doc, (*ctx.key, "tls_config"), ctx.environ)
    ca_file = tls_ctx.path(tls, "ca_file") if "ca_file" in tls else None
    cert = None
    if "cert_file" in tls or "key_file" in tls:
        if not ("cert_file" in tls and "key_file" in tls):
            raise tls_ctx.error((), "tls_config needs both cert_file and key_file for a "
                                    "client certificate")
        cert = (str(tls_ctx.path(tls, "cert_file")), str(tls_ctx.path(tls, "key_file")))
    _check_via(ctx, raw)
    return RabbitMQConfig(
        name=raw["name"], kind="rabbitmq",
        url=ctx.expand(raw, "url").rstrip("/") if "url" in raw else "",
        username=ctx.expand(raw, "username") if "username" in raw else "guest",
        password=password, ca_file=ca_file, client_cert=cert,
        verify=not tls.get("insecure_skip_verify", False),
        timeout=ctx.duration(raw, "timeout", DEFAULT_TIMEOUT),
        max_response_bytes=raw.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES),
        vhosts=tuple(raw.get("vhosts", ())),
        queues=_queue_filter(ctx, raw.get("queues", {})),
        canary=_canary(ctx, raw["canary"]) if "canary" in raw else None,
        via=raw.get("via", "management"),
        nodes=tuple(n.rstrip("/") for n in raw.get("nodes", ())))


def _check_via(ctx: ParseContext, raw: dict[str, Any]) -> None:
    """What each ``via`` reads must be there, and what it cannot read not asked for."""
    plugin = raw.get("via") == "prometheus"
    if plugin and raw.get("queues", {}).get("message_stats"):
        raise ctx.error(("queues", "message_stats"), "queues.message_stats needs the "
                        "management API: the rabbitmq_prometheus plugin has no per-queue "
                        "message counters; remove it, or use via: management")
    if "nodes" in raw and not plugin:
        raise ctx.error(("nodes",), "nodes lists rabbitmq_prometheus plugins, read only "
                                    "with via: prometheus; add via: prometheus")
    if "url" not in raw and "nodes" not in raw:
        raise ctx.error((), "a rabbitmq source needs url (the management API) or, with "
                            "via: prometheus, nodes (every node's plugin, such as "
                            "http://rabbit-1:15692)")


def _queue_filter(ctx: ParseContext, raw: dict[str, Any]) -> QueueFilter:
    def patterns(key: str) -> tuple[re.Pattern[str], ...]:
        compiled = []
        for i, text in enumerate(raw.get(key, [])):
            try:
                compiled.append(re.compile(text))
            except re.error as exc:
                raise ctx.error(("queues", key, i), f"queues.{key}[{i}] is not a valid "
                                                    f"regular expression: {exc}") from None
        return tuple(compiled)

    return QueueFilter(per_queue=raw.get("per_queue", True), include=patterns("include"),
                       exclude=patterns("exclude"),
                       max_series=raw.get("max_series", DEFAULT_MAX_QUEUES),
                       message_stats=raw.get("message_stats", False))


def _canary(ctx: ParseContext, raw: dict[str, Any]) -> CanaryConfig:
    sub = ParseContext(ctx.doc, (*ctx.key, "canary"), ctx.environ)
    url = Secret(sub.expand(raw, "url"))
    REDACTOR.add(url)
    password = urlsplit(url.reveal()).password
    if password:
        REDACTOR.add(Secret(password))
    return CanaryConfig(url, sub.duration(raw, "timeout", DEFAULT_CANARY_TIMEOUT))
