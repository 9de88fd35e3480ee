"""The relay's configuration: the ``relay`` section of a config file, validated and resolved.

Phone numbers and provider credentials live here, on the relay's host, never in
routing.yaml or the generated Alertmanager config. The file may also hold the exporter's
sections; the relay reads only ``relay`` and ``log``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..durations import format_duration, parse_duration
from ..oncall.amconfig import TIMING
from ..oncall.routing import RoutingSpec, load_routing_file
from ..secrets import Secret
from ..validation import ParseContext, validate
from ..webconfig import WebConfig, listen_address_of, load_web_config
from ..yamlfile import load_yaml

DEFAULT_LISTEN = "127.0.0.1:9632"
TWILIO_API = "https://api.twilio.com"
PUSHOVER_API = "https://api.pushover.net"
MIN_KEY_BYTES = 32
DEFAULT_EXPIRE = 2.0


@dataclass(frozen=True)
class Twilio:
    account_sid: str
    auth_token: Secret
    from_number: str
    api_url: str


@dataclass(frozen=True)
class Contact:
    phone: str | None
    pushover_user_key: Secret | None


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
    log_level: str
    log_format: str


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
    _check_reachable(ctx, routing, contacts, twilio, pushover)
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
        expire,
        log.get("level", "info"), log.get("format", "text"))


def _contacts(ctx: ParseContext, raw: dict[str, Any]) -> dict[str, Contact]:
    out = {}
    for name, item in raw.items():
        sub = ParseContext(ctx.doc, (*ctx.key, "members", name), ctx.environ)
        out[name] = Contact(item.get("phone"), sub.secret(item, "pushover_user_key"))
    return out


def _twilio(ctx: ParseContext, raw: dict[str, Any]) -> Twilio:
    sub = ParseContext(ctx.doc, (*ctx.key, "twilio"), ctx.environ)
    token = sub.secret(raw, "auth_token")
    assert token is not None  # the schema requires one of the two
    return Twilio(sub.expand(raw, "account_sid"), token, raw["from_number"],
                  raw.get("api_url", TWILIO_API).rstrip("/"))


def _pushover(ctx: ParseContext, raw: dict[str, Any]) -> tuple[Secret, str]:
    sub = ParseContext(ctx.doc, (*ctx.key, "pushover"), ctx.environ)
    token = sub.secret(raw, "token")
    assert token is not None
    return token, raw.get("api_url", PUSHOVER_API).rstrip("/")


def _webhook_auth(ctx: ParseContext, raw: dict[str, Any]) -> tuple[str, Secret] | None:
    if "webhook_auth" not in raw:
        return None
    sub = ParseContext(ctx.doc, (*ctx.key, "webhook_auth"), ctx.environ)
    password = sub.secret(raw["webhook_auth"], "password")
    assert password is not None
    return raw["webhook_auth"]["username"], password


def _check_reachable(ctx: ParseContext, routing: RoutingSpec, contacts: dict[str, Contact],
                     twilio: Twilio | None, pushover: tuple[Secret, str] | None) -> None:
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
                problem = _missing(channel, contact, twilio, pushover)
                if problem:
                    raise ctx.error(("members", member.name),
                                    f"{member.name} is paged by {channel} but {problem}")


def _check_expiry(ctx: ParseContext, routing: RoutingSpec, expire: float) -> None:
    """An acknowledgement must end before Alertmanager flushes the resolved alert: a flush
    while the silence still holds mutes the resolved notification, Alertmanager then
    believes the alert is still notified, and the next incident's pages wait for
    repeat_interval. Polling at a tenth of group_interval keeps that chance small."""
    group_interval = parse_duration(routing.timing.get("group_interval", TIMING["group_interval"]))
    if expire > group_interval / 10:
        raise ctx.error(("expire_interval",),
                        f"relay.expire_interval {format_duration(expire)} is more than a tenth "
                        f"of Alertmanager's group_interval ({format_duration(group_interval)}, "
                        f"{routing.doc.path}): a resolved alert could be flushed while its "
                        "acknowledgement still holds, and the next incident would not page; "
                        f"set it to {format_duration(group_interval / 10)} or less")


def _missing(channel: str, contact: Contact, twilio: Twilio | None,
             pushover: tuple[Secret, str] | None) -> str | None:
    if channel in ("sms", "voice"):
        if contact.phone is None:
            return "has no phone; add phone: +<country code><number>"
        if twilio is None:
            return "the relay has no twilio section; add it with your account's SID and token"
    if channel == "push":
        if contact.pushover_user_key is None:
            return "has no pushover_user_key; add it (from ${VAR} or pushover_user_key_file)"
        if pushover is None:
            return "the relay has no pushover section; add your application's token"
    return None
