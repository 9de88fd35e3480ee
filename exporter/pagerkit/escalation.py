"""Escalation tiers: a critical alert is emitted once per tier, later tiers later.

All tiers share the alertname and differ by the label ``tier``, so one silence on the
alertname (the acknowledgement) stops the whole chain. A team's policy comes from
``alertmanager/routing.yaml``; without one, the default: a push notification at once, an
SMS after 10 minutes, a voice call after 20, then the secondary by voice after 30.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    number: int
    delay: float
    """Seconds after the first tier pages."""
    channel: str


DEFAULT_POLICY = (Tier(1, 0.0, "push"), Tier(2, 600.0, "sms"), Tier(3, 1200.0, "voice"),
                  Tier(4, 1800.0, "voice"))


def tiers(delays: tuple[float, ...] | None = None) -> tuple[Tier, ...]:
    """The default policy, or tiers with these delays (a team's policy from the routing
    spec, or an environment's overrides)."""
    if delays is None:
        return DEFAULT_POLICY
    channels = [t.channel for t in DEFAULT_POLICY]
    return tuple(Tier(i + 1, delay, channels[min(i, len(channels) - 1)])
                 for i, delay in enumerate(delays))
