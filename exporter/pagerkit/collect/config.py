"""The exporter's configuration: YAML in, frozen and validated objects out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..validation import ParseContext, validate
from ..webconfig import WebConfig, listen_address_of, load_web_config
from ..yamlfile import YamlDocument, load_yaml
from .collectors import KINDS

DEFAULT_LISTEN = "127.0.0.1:9630"
DEFAULT_CONFIG = "pagerkit.yaml"


@dataclass(frozen=True)
class Config:
    path: str
    listen_host: str
    listen_port: int
    web: WebConfig | None
    playbooks_dir: Path | None
    schedule_ends: tuple[tuple[str, float], ...]
    """(team, UNIX time) at which each team's generated on-call schedule ends."""
    log_level: str
    log_format: str
    sources: tuple[Any, ...]


def config_path(flag: str | None, environ: dict[str, str] | None = None) -> str:
    """``--config``, else ``$PAGERKIT_CONFIG``, else ``pagerkit.yaml``."""
    env = os.environ if environ is None else environ
    return flag or env.get("PAGERKIT_CONFIG") or DEFAULT_CONFIG


def load_config(path: str, environ: dict[str, str] | None = None) -> Config:
    """Read, validate and resolve (secrets included) the config; ``UserError`` if bad."""
    doc = load_yaml(path)
    validate(doc, "config.schema.json", doc.data)
    raw: dict[str, Any] = doc.data
    env = dict(os.environ) if environ is None else environ
    sources = tuple(_parse_source(ParseContext(doc, ("sources", i), env), item)
                    for i, item in enumerate(raw["sources"]))
    web_raw = raw.get("web", {})
    host, port = listen_address_of(web_raw.get("listen_address", DEFAULT_LISTEN))
    if not 0 < port < 65536:
        raise doc.error(("web", "listen_address"), f"web.listen_address: port {port} is not "
                                                   "between 1 and 65535")
    web = None
    if "config_file" in web_raw:
        web = load_web_config(ParseContext(doc, ("web",), env).path(web_raw, "config_file"))
    playbooks = None
    if "playbooks_dir" in web_raw:
        playbooks = ParseContext(doc, ("web",), env).path(web_raw, "playbooks_dir")
        if not playbooks.is_dir():
            raise doc.error(("web", "playbooks_dir"), f"web.playbooks_dir: {playbooks} is not "
                                                      "a folder")
    log = raw.get("log", {})
    return Config(doc.path, host, port, web, playbooks, _schedule_ends(doc, raw, env),
                  log.get("level", "info"), log.get("format", "text"), sources)


def _schedule_ends(doc: YamlDocument, raw: dict[str, Any], env: dict[str, str]
                   ) -> tuple[tuple[str, float], ...]:
    if "oncall" not in raw:
        return ()
    from ..oncall.routing import load_routing_file

    path = ParseContext(doc, ("oncall",), env).path(raw["oncall"], "routing_file")
    spec = load_routing_file(path)
    return tuple((team.name, team.end.timestamp()) for team in spec.teams)


def _parse_source(ctx: ParseContext, item: dict[str, Any]) -> Any:
    kind = KINDS.get(item["kind"])
    if kind is None:
        raise ctx.error(("kind",), f"unknown source kind {item['kind']!r}; the kinds are: "
                                   f"{', '.join(sorted(KINDS))}")
    validate(ctx.doc, kind.schema, item, ctx.key)
    names = [s["name"] for s in ctx.doc.data["sources"][: int(ctx.key[1])]]
    if item["name"] in names:
        first = ctx.doc.line_of(("sources", names.index(item["name"]), "name"))
        raise ctx.error(("name",), f"source name {item['name']!r} is already used on line "
                                   f"{first}; names label every sample, give each its own")
    return kind.load().parse_source(ctx, item)
