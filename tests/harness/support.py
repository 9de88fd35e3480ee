"""Helpers shared by tests: configs from text, samples as a dictionary."""

from __future__ import annotations

import textwrap
from pathlib import Path

from prometheus_client.metrics_core import Metric

from pagerkit.collect.config import Config, load_config
from pagerkit.collect.engine import Engine, build_engine

Key = tuple[str, frozenset[tuple[str, str]]]


def write_config(tmp_path: Path, text: str, name: str = "pagerkit.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def engine_from(tmp_path: Path, text: str, environ: dict[str, str] | None = None
                ) -> tuple[Config, Engine]:
    config = load_config(str(write_config(tmp_path, text)), environ=environ or {})
    return config, build_engine(config)


def collect_once(tmp_path: Path, text: str, environ: dict[str, str] | None = None
                 ) -> dict[Key, float]:
    """One scrape of a fresh engine for the config ``text``, closed after it."""
    _, engine = engine_from(tmp_path, text, environ)
    try:
        return samples(engine.collect())
    finally:
        engine.close()


def samples(families: list[Metric]) -> dict[Key, float]:
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


def value(found: dict[Key, float], name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def series(found: dict[Key, float], name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in found.items() if n == name}
