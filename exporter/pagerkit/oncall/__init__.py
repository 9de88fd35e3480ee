"""On call: who is paged, when, and how Alertmanager routes to them (``pagerkit oncall``).

In: ``alertmanager/routing.yaml`` (``routing``: teams, members, time zones, schedules,
overrides, escalation tiers). Through: ``schedule`` (pure: rotations, follow-the-sun and
overrides -> shifts in UTC, across daylight-saving changes), ``who`` (primary and
secondary now, coverage gaps, iCalendar). Out: the answer to "who is on call", and the
Alertmanager config (``amconfig``: severity routes, one route per tier with its delay,
time intervals, receivers pointing at the relay).

Public modules are listed in ``__all__``; ``schedule`` is this flow's own.
"""

__all__ = ["amconfig", "routing", "who"]
