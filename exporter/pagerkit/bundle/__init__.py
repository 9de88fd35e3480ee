"""The bundle: specs in, checked-in files out, held to the playbooks (``pagerkit generate``,
``pagerkit validate``, ``pagerkit playbook``).

In: ``rules/alerts.yaml`` (``alerts``) with ``rules/overrides/``, ``grafana/overview.yaml``,
and the routing spec read through the on-call flow. Through: pure generators
(``rules``: an alert and its escalation tiers -> Prometheus rules; ``dashboards``; the
Alertmanager config comes from ``oncall.amconfig``), assembled by ``generate``. Out: the
files under ``rules/generated/``, ``alertmanager/alertmanager.yml`` and ``grafana/``, and
``validate``'s findings (specs, generated files and ``playbooks/`` agree). ``playbooks``
parses and renders the markdown; ``pages`` serves it as web pages for the exporter.

Public modules are listed in ``__all__``; ``rules`` and ``dashboards`` are this flow's own.
"""

__all__ = ["alerts", "generate", "pages", "playbooks", "validate"]
