"""Escalation tiers: a critical alert is emitted once per tier, later tiers later.

All tiers share the alertname and differ by the label ``tier``, so one silence on the
alertname (the acknowledgement) stops the whole chain. Until a team's policy comes from
``alertmanager/routing.yaml``, every team gets the default: a push notification at once,
an SMS after 10 minutes, a voice call after 20.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    number: int
    delay: float
    """Seconds after the first tier pages."""
    channel: str


DEFAULT_POLICY = (Tier(1, 0.0, "push"), Tier(2, 600.0, "sms"), Tier(3, 1200.0, "voice"))


def tiers(delays: tuple[float, ...] | None = None) -> tuple[Tier, ...]:
    """The default policy, or its tiers with other delays (an environment's overrides)."""
    if delays is None:
        return DEFAULT_POLICY
    channels = [t.channel for t in DEFAULT_POLICY]
    return tuple(Tier(i + 1, delay, channels[i] if i < len(channels) else channels[-1])
                 for i, delay in enumerate(delays))
