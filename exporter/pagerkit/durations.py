"""Durations written the Prometheus way: ``500ms``, ``30s``, ``5m``, ``1h30m``."""

from __future__ import annotations

import re

DURATION_PATTERN = r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                 "y": 31536000}


def parse_duration(text: str) -> float:
    """Seconds in ``text``; the caller has checked it against ``DURATION_PATTERN``."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h30m")
    return float(sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text)))


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for a whole number of milliseconds."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
