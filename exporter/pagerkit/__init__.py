"""pagerkit: carry the pager for a PostgreSQL + RabbitMQ platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pagerkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
