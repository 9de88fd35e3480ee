"""Collection: the exporter's flow (``pagerkit serve``, ``pagerkit collect``).

In: the exporter config (``config``: YAML -> frozen, validated objects) naming the sources.
Through: ``collectors/`` (one module per source kind: ``postgres`` with its SQL,
``rabbitmq``, the AMQP ``canary``; each a thin fetch of a plain snapshot, then pure
functions from snapshot to metric families), run concurrently by the ``engine``, each
source under its own deadline. Out: ``/metrics`` in the exposition format (``server``,
``exposition``), and the playbooks that the bundle renders.

Public modules, for the other flows and the command line, are listed in ``__all__``; the
rest (``families``, ``collectors``) is this flow's own.
"""

__all__ = ["catalog", "config", "engine", "exposition", "server"]
