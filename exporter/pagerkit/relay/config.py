"""The relay's configuration: the ``relay`` section of a config file, validated and resolved.

Phone numbers and provider credentials live here, on the relay's host, never in
routing.yaml or the generated Alertmanager config. Unlike the exporter's config, the
provider tokens may be written inline (the compose demo and the tests give stand-ins'
tokens so); ``${VAR}`` or ``*_file`` is what README shows, and the signing key and the
webhook password come only from files. The file may also hold the exporter's
sections; the relay reads only ``relay`` and ``log``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from ..durations import format_duration, parse_duration
from ..oncall.amconfig import CRITICAL_TIMING
from ..oncall.routing import RoutingSpec, load_routing_file
from ..secrets import Secret
from ..validation import ParseContext, validate
from ..webconfig import WebConfig, listen_address_of, load_web_config
from ..yamlfile import load_yaml

DEFAULT_LISTEN = "127.0.0.1:9632"
TWILIO_API = "https://api.twilio.com"
PUSHOVER_API = "https://api.pushover.net"
VONAGE_API_HOST, VONAGE_REST_HOST = "api.nexmo.com", "rest.nexmo.com"
DEFAULT_FAILOVER_BUDGET = 8.0
ALERTMANAGER_NOTIFY_TIMEOUT = 10.0
"""Alertmanager's deadline for one notification, retries included: max(group_interval,
10 s) plus the peer wait in a cluster; the critical routes' group_interval is 5 s, so 10 s.
A webhook the relay answers later counts as failed there and is retried."""
MIN_KEY_BYTES = 32
DEFAULT_EXPIRE = 0.5
DEFAULT_RESEND_WINDOW = 150.0
"""Prometheus's defaults: a 1m resend delay plus a 1m evaluation interval, and a margin."""


@dataclass(frozen=True)
class Twilio:
    account_sid: str
    auth_token: Secret
    from_number: str
    api_url: str


@dataclass(frozen=True)
class Vonage:
    """Vonage's SMS API (``api_key``/``api_secret``) and, with ``application_id`` and its
    private key, its Voice API. Hosts are names, not URLs: the library always speaks HTTPS
    and trusts the CAs that ``REQUESTS_CA_BUNDLE`` names, as requests does."""

    api_key: str
    api_secret: Secret
    from_number: str
    application_id: str | None
    private_key: Secret | None
    api_host: str
    rest_host: str


@dataclass(frozen=True)
class Contact:
    phone: str | None
    pushover_user_key: Secret | None


@dataclass(frozen=True)
class Peering:
    """The relays of an HA set (one beside each Alertmanager peer) and the dead man's switch.

    ``name`` tells this relay from its peers: the live relay with the lowest name is the
    one that sends the pipeline-down page. ``peers`` are the other relays' URLs, asked
    before a page goes out and polled for their heartbeat every ``interval``."""

    name: str = "relay"
    peers: tuple[str, ...] = ()
    interval: float = 5.0
    timeout: float = 1.0
    down_after: float = 60.0
    heartbeat_deadline: float = 300.0
    heartbeat_url: Secret | None = None
    """An external dead man's switch, called on each heartbeat (its URL is a secret)."""


@dataclass(frozen=True)
class RelayConfig:
    path: str
    listen_host: str
    listen_port: int
    public_url: str
    web: WebConfig | None
    routing: RoutingSpec
    alertmanagers: tuple[str, ...]
    signing_key: Secret
    link_ttl: float
    webhook_auth: tuple[str, Secret] | None
    twilio: Twilio | None
    pushover: tuple[Secret, str] | None
    """(application token, API base URL)."""
    contacts: dict[str, Contact]
    sms_max_chars: int
    max_body_bytes: int
    provider_timeout: float
    alertmanager_timeout: float
    expire_interval: float
    resend_window: float
    log_level: str
    log_format: str
    peering: Peering = field(default_factory=Peering)
    vonage: Vonage | None = None
    failover_budget: float = DEFAULT_FAILOVER_BUDGET
    """The time one page may take across all its providers, retries included."""
    provider_attempts: int = 1
    """Tries per provider for a 5xx or a refused connection, within the budget; by default
    one, the next provider being the retry, and Alertmanager's the last resort."""


def load_relay_config(path: str, environ: dict[str, str] | None = None) -> RelayConfig:
    """Read and check the ``relay`` section; ``UserError`` naming file and line if bad."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict) or "relay" not in doc.data:
        raise doc.error((), f"{path} has no relay section; add one (see examples/relay.yaml)")
    raw: dict[str, Any] = doc.data["relay"]
    validate(doc, "relay.schema.json", raw, ("relay",))
    ctx = ParseContext(doc, ("relay",)) if environ is None else \
        ParseContext(doc, ("relay",), environ)
    host, port = listen_address_of(raw.get("listen_address", DEFAULT_LISTEN))
    routing = load_routing_file(ctx.path(raw, "routing_file"))
    web = load_web_config(ctx.path(raw, "web_config_file")) if "web_config_file" in raw \
        else None
    if web is not None and web.basic_auth_users:
        raise ctx.error(("web_config_file",), f"{web.path} has basic_auth_users, which the "
                                              "relay does not use: phones open its pages and "
                                              "Twilio calls it back; remove them and give "
                                              "Alertmanager's password in webhook_auth")
    key = ctx.secret(raw, "signing_key")
    assert key is not None  # the schema requires signing_key_file
    if len(key.reveal().encode()) < MIN_KEY_BYTES:
        raise ctx.error(("signing_key_file",), f"relay.signing_key_file holds fewer than "
                                               f"{MIN_KEY_BYTES} bytes; write a long random "
                                               "key, e.g. `head -c 48 /dev/urandom | base64`")
    contacts = _contacts(ctx, raw["members"])
    twilio = _twilio(ctx, raw["twilio"]) if "twilio" in raw else None
    pushover = _pushover(ctx, raw["pushover"]) if "pushover" in raw else None
    vonage = _vonage(ctx, raw["vonage"]) if "vonage" in raw else None
    _check_reachable(ctx, routing, contacts, {"twilio": twilio is not None,
                                              "pushover": pushover is not None,
                                              "vonage": vonage is not None})
    _check_voice(ctx, routing, vonage)
    budget = _failover_budget(ctx, raw)
    expire = ctx.duration(raw, "expire_interval", DEFAULT_EXPIRE)
    _check_expiry(ctx, routing, expire)
    log = doc.data.get("log", {}) if isinstance(doc.data.get("log"), dict) else {}
    return RelayConfig(
        doc.path, host, port, raw["public_url"], web, routing,
        tuple(u.rstrip("/") for u in raw["alertmanagers"]), key,
        ctx.duration(raw, "link_ttl", 86400.0), _webhook_auth(ctx, raw), twilio, pushover,
        contacts, int(raw.get("sms_max_chars", 320)), int(raw.get("max_body_bytes", 1 << 20)),
        ctx.duration(raw, "provider_timeout", 10.0),
        ctx.duration(raw, "alertmanager_timeout", 5.0),
        expire, ctx.duration(raw, "resend_window", DEFAULT_RESEND_WINDOW),
        log.get("level", "info"), log.get("format", "text"), peering=_peering(ctx, raw),
        vonage=vonage, failover_budget=budget,
        provider_attempts=int(raw.get("provider_attempts", 1)))


def _peering(ctx: ParseContext, raw: dict[str, Any]) -> Peering:
    """``name``, ``peers`` and the heartbeat's deadline, checked against each other: a peer's
    heartbeat is seen one poll late at worst, so the deadline must leave room for polls."""
    interval = ctx.duration(raw, "peer_interval", 5.0)
    deadline = ctx.duration(raw, "heartbeat_deadline", 300.0)
    if deadline < 3 * interval:
        raise ctx.error(("heartbeat_deadline",),
                        f"relay.heartbeat_deadline {format_duration(deadline)} is less than "
                        f"three peer_interval ({format_duration(interval)}): a heartbeat a "
                        "peer relay heard would be seen too late and the pipeline reported "
                        f"down while it works; set it to {format_duration(3 * interval)} or "
                        "more (a few of the Watchdog's repeat intervals: 5m by default)")
    timeout = ctx.duration(raw, "peer_timeout", 1.0)
    if timeout >= interval:
        raise ctx.error(("peer_timeout",),
                        f"relay.peer_timeout {format_duration(timeout)} is not shorter than "
                        f"peer_interval ({format_duration(interval)}); a page waits this long "
                        "for a dead peer, so keep it short: 1s is plenty on a network")
    url = ctx.secret(raw, "heartbeat_url")
    if url is not None and not url.reveal().startswith(("http://", "https://")):
        raise ctx.error(("heartbeat_url_file",), "relay.heartbeat_url_file does not hold an "
                                                 "http:// or https:// URL; write the dead "
                                                 "man's switch's ping URL into it, alone")
    return Peering(str(raw.get("name") or socket.gethostname()),
                   tuple(u.rstrip("/") for u in raw.get("peers", [])), interval, timeout,
                   ctx.duration(raw, "peer_down_after", 60.0), deadline, url)


def _contacts(ctx: ParseContext, raw: dict[str, Any]) -> dict[str, Contact]:
    out = {}
    for name, item in raw.items():
        sub = ParseContext(ctx.doc, (*ctx.key, "members", name), ctx.environ)
        out[name] = Contact(item.get("phone"), sub.secret(item, "pushover_user_key", inline=True))
    return out


def _twilio(ctx: ParseContext, raw: dict[str, Any]) -> Twilio:
    sub = ParseContext(ctx.doc, (*ctx.key, "twilio"), ctx.environ)
    token = sub.secret(raw, "auth_token", inline=True)
    assert token is not None  # the schema requires one of the two
    return Twilio(sub.expand(raw, "account_sid"), token, raw["from_number"],
                  raw.get("api_url", TWILIO_API).rstrip("/"))


def _pushover(ctx: ParseContext, raw: dict[str, Any]) -> tuple[Secret, str]:
    sub = ParseContext(ctx.doc, (*ctx.key, "pushover"), ctx.environ)
    token = sub.secret(raw, "token", inline=True)
    assert token is not None
    return token, raw.get("api_url", PUSHOVER_API).rstrip("/")


def _vonage(ctx: ParseContext, raw: dict[str, Any]) -> Vonage:
    sub = ParseContext(ctx.doc, (*ctx.key, "vonage"), ctx.environ)
    secret = sub.secret(raw, "api_secret", inline=True)
    assert secret is not None  # the schema requires one of the two
    return Vonage(sub.expand(raw, "api_key"), secret, raw["from_number"],
                  raw.get("application_id"), sub.secret(raw, "private_key"),
                  raw.get("api_host", VONAGE_API_HOST), raw.get("rest_host", VONAGE_REST_HOST))


def _check_voice(ctx: ParseContext, routing: RoutingSpec, vonage: Vonage | None) -> None:
    """Vonage places calls only for an application (its id and private key): a voice order
    that names vonage without them would fail over to nothing."""
    if vonage is None or "vonage" not in routing.providers["voice"] or (
            vonage.application_id and vonage.private_key):
        return
    raise ctx.error(("vonage",), f"{routing.doc.path} calls through vonage (providers.voice) "
                                 "but relay.vonage has no application_id and "
                                 "private_key_file; add those of a Vonage application with "
                                 "Voice enabled, or remove vonage from providers.voice")


def _failover_budget(ctx: ParseContext, raw: dict[str, Any]) -> float:
    budget = ctx.duration(raw, "failover_budget", DEFAULT_FAILOVER_BUDGET)
    if budget >= ALERTMANAGER_NOTIFY_TIMEOUT:
        raise ctx.error(("failover_budget",),
                        f"relay.failover_budget {format_duration(budget)} is not shorter than "
                        "Alertmanager's deadline for a notification "
                        f"({format_duration(ALERTMANAGER_NOTIFY_TIMEOUT)} on the critical "
                        "routes): Alertmanager would give up on the webhook while the relay "
                        "still tries the next provider; set it to 8s or less")
    return budget


def _webhook_auth(ctx: ParseContext, raw: dict[str, Any]) -> tuple[str, Secret] | None:
    if "webhook_auth" not in raw:
        return None
    sub = ParseContext(ctx.doc, (*ctx.key, "webhook_auth"), ctx.environ)
    password = sub.secret(raw["webhook_auth"], "password")
    assert password is not None
    return raw["webhook_auth"]["username"], password


def _check_reachable(ctx: ParseContext, routing: RoutingSpec, contacts: dict[str, Contact],
                     configured: dict[str, bool]) -> None:
    """Every channel a member can be paged on has what the relay needs to send it, so a
    missing phone number is found now, not at 3 a.m."""
    for team in routing.teams:
        for member in team.members:
            contact = contacts.get(member.name)
            if contact is None:
                raise ctx.error(("members",), f"relay.members has no entry for {member.name} "
                                              f"(team {team.name} in {routing.doc.path}); add "
                                              "their phone and Pushover user key")
            for channel in member.channels:
                problem = _missing(channel, contact, routing.providers[channel], configured)
                if problem:
                    raise ctx.error(("members", member.name),
                                    f"{member.name} is paged by {channel} but {problem}")


def _check_expiry(ctx: ParseContext, routing: RoutingSpec, expire: float) -> None:
    """An acknowledgement must end before Alertmanager flushes the resolved alert: a flush
    while the silence still holds mutes the resolved notification, Alertmanager then
    believes the alert is still notified, and the next incident's pages wait for
    repeat_interval. Polling at a tenth of the critical routes' group_interval (which
    `pagerkit generate` sets, whatever the spec's timing) keeps that chance small."""
    group_interval = parse_duration(CRITICAL_TIMING["group_interval"])
    if expire > group_interval / 10:
        raise ctx.error(("expire_interval",),
                        f"relay.expire_interval {format_duration(expire)} is more than a tenth "
                        "of the group_interval of the critical routes "
                        f"({format_duration(group_interval)}, written by pagerkit generate "
                        f"from {routing.doc.path}): a resolved alert could be flushed while "
                        "its acknowledgement still holds, and the next incident would not "
                        f"page; set it to {format_duration(group_interval / 10)} or less")


SECTION_HINTS = {"twilio": "add it with your account's SID and token",
                 "pushover": "add your application's token",
                 "vonage": "add it with your API key and secret"}


def _missing(channel: str, contact: Contact, order: tuple[str, ...],
             configured: dict[str, bool]) -> str | None:
    """What the relay lacks to page ``contact`` by ``channel``: every provider of the
    channel's order needs its section, since a failover to an unconfigured provider is
    found only during an outage."""
    if channel in ("sms", "voice") and contact.phone is None:
        return "has no phone; add phone: +<country code><number>"
    if channel == "push" and contact.pushover_user_key is None:
        return "has no pushover_user_key; add it (from ${VAR} or pushover_user_key_file)"
    for provider in order:
        if not configured[provider]:
            return f"the relay has no {provider} section; {SECTION_HINTS[provider]}"
    return None
