"""The table of source kinds: a new kind is one module plus one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..validation import ParseContext
from . import postgres, rabbitmq
from .base import SourceBuilder


@dataclass(frozen=True)
class SourceKind:
    schema: str
    parse: Callable[[ParseContext, dict[str, Any]], Any]
    build: SourceBuilder


KINDS: dict[str, SourceKind] = {
    "postgres": SourceKind("postgres.schema.json", postgres.parse_source, postgres.build_source),
    "rabbitmq": SourceKind("rabbitmq.schema.json", rabbitmq.parse_source, rabbitmq.build_source),
}
