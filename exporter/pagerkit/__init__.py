"""pagerkit: carry the pager for a PostgreSQL + RabbitMQ platform.

Four flows, one subpackage each, over a small core at this level:

- ``collect``: sources (PostgreSQL, RabbitMQ, the AMQP canary) -> ``/metrics``;
- ``bundle``: specs -> rule files, dashboards and their validation against ``playbooks/``;
- ``oncall``: the routing spec -> who is on call, and the Alertmanager config;
- ``relay``: Alertmanager's notifications -> pushes, SMS and calls; acknowledgements ->
  silences;
- ``report``: Prometheus's alert history -> the on-call health report.

The core: ``cli`` (the ``pagerkit`` command, which alone wires the flows together),
``errors``, ``yamlfile`` (YAML with line numbers, and the writer of generated YAML),
``validation`` (JSON Schema, ``file:line`` errors), ``secrets``, ``durations``, ``logs``,
``webconfig`` (TLS and basic auth, as every exporter reads them), ``serving`` (Hypercorn),
and ``alertmanager`` (the client: silences are the acknowledgements that ``pagerkit ack``,
the relay and the report all write or read). The core imports no flow; a flow imports
another only through the modules that flow lists in its ``__all__``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pagerkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
