"""The report: on-call health from what Prometheus and Alertmanager remember
(``pagerkit report``).

In: Prometheus's ``ALERTS`` history and Alertmanager's acknowledgement silences
(``data``), the alert spec and the on-call schedule. Through: ``figures`` (pure: firings
-> pages, noise, escalations, time to acknowledge, night pages per member, a suggested
``for``). Out: HTML with ``plots``, markdown or JSON (``render``), written by ``build``.

Nothing imports the report but the command line. Public modules are listed in ``__all__``.
"""

__all__ = ["build", "figures"]
