"""A history of ``ALERTS`` made to order, backfilled into a real Prometheus.

An incident is written the way Prometheus's rule evaluation writes it: one sample per
evaluation interval from the first evaluation that found the alert firing to the last one
before it resolved, and for a critical alert one series per escalation tier, tier n
starting its delay after tier 1 (the rules' ``for`` are lengthened by the delays) when the
incident lasts that long. Pending samples are left out: the report reads only firing ones.
promtool turns the OpenMetrics text into blocks, and Prometheus is started on them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from tests.harness.prometheus_process import stop_process, wait_ready

TIER_DELAYS = (0.0, 600.0, 1200.0, 1800.0)
"""The routing spec's default escalation: push at once, SMS after 10m, voice after 20m,
the secondary after 30m."""


@dataclass(frozen=True)
class Incident:
    alertname: str
    severity: str
    start: float
    """The first evaluation that found it firing, Unix seconds."""
    seconds: float
    """Until the first evaluation that found it resolved: a multiple of the interval."""
    labels: dict[str, str] = field(default_factory=dict)
    team: str = "platform"


def series_of(incident: Incident, delays: Sequence[float] = TIER_DELAYS,
              ) -> list[tuple[str, float, float]]:
    """(labels in exposition syntax, first sample, end) of each series the incident fires."""
    labels = {"alertname": incident.alertname, "alertstate": "firing",
              "severity": incident.severity, "team": incident.team, **incident.labels}
    if incident.severity != "critical":
        return [(_labels(labels), incident.start, incident.start + incident.seconds)]
    return [(_labels({**labels, "tier": str(n)}), incident.start + delay,
             incident.start + incident.seconds)
            for n, delay in enumerate(delays, 1) if delay < incident.seconds]


def write_openmetrics(incidents: Iterable[Incident], interval: float, out: IO[str]) -> int:
    """The incidents' samples as OpenMetrics, each series' samples together and in order;
    the number of samples."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for incident in incidents:
        for labels, start, end in series_of(incident):
            spans[labels].append((start, end))
    count = 0
    out.write("# HELP ALERTS Alerts as Prometheus's rule evaluation records them.\n"
              "# TYPE ALERTS gauge\n")
    for labels in sorted(spans):
        for start, end in _merged(spans[labels]):
            stamp = start
            while stamp < end:
                out.write(f"ALERTS{{{labels}}} 1 {stamp:.3f}\n")
                stamp += interval
                count += 1
    out.write("# EOF\n")
    return count


def backfill(promtool: str, incidents: Iterable[Incident], interval: float,
             data: Path) -> int:
    """Blocks for the incidents in ``data``; the number of samples."""
    data.mkdir(parents=True, exist_ok=True)
    source = data.parent / "alerts.om"
    with source.open("w") as out:
        count = write_openmetrics(incidents, interval, out)
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                    "--max-block-duration=24h", str(source), str(data)], check=True,
                   capture_output=True, timeout=600)
    source.unlink()
    return count


class HistoryPrometheus:
    """Prometheus on backfilled blocks: no rules, no scrapes, and the evaluation interval
    the history was written with, which the report reads as the resolution of every
    duration. Prometheus deletes a block when it ends more than the retention before the
    newest block, whatever the clock says: keep it longer than the history."""

    def __init__(self, data: Path, port: int, interval: str, keep: str = "60d") -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus (Debian package prometheus)")
        self.dir = Path(tempfile.mkdtemp(prefix="pagerkit-history-"))
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(
            {"global": {"evaluation_interval": interval, "scrape_interval": interval}}))
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(self.dir / "log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.retention.time={keep}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready("prometheus", self.proc, self.url, self.dir / "log", seconds=120)

    def stop(self) -> None:
        stop_process(self.proc, self.log)
        shutil.rmtree(self.dir, ignore_errors=True)


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping incidents of one series are one firing: a series has one sample per
    evaluation."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
