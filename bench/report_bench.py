"""How long `pagerkit report` takes, and how much memory, over 90 days of history for 200
alerts and 10 members.

A synthetic repository (in a temporary folder) holds an alert spec of 200 alerts (one in
three critical, each with four escalation tiers) and a team of 10 members in five time
zones on a weekly rotation. A history of their `ALERTS` series is written as Prometheus's
rule evaluation at a 15s interval would write it (seeded, so every run has the same): each
critical alert pages twice a week on average for 1 to 90 minutes, each warning fires once a
week for 10 minutes to 6 hours, and 3 warnings never stop. promtool backfills it into a
real Prometheus, and a real Alertmanager holds 500 acknowledgement silences. Measured: the
`pagerkit report` command writing the HTML report with its plots, as a user runs it
(median of 3 runs; wall time, and peak RSS from the kernel's rusage of the process).
Targets: under 10 s and under 200 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from benchkit import cpu_model, free_port, log, replace_block, version_of  # noqa: E402
from tests.harness.report_history import HistoryPrometheus, Incident, backfill  # noqa: E402
from validate_bench import alert_yaml  # noqa: E402

BEGIN = "<!-- report-bench:begin (written by bench/report_bench.py) -->"
END = "<!-- report-bench:end -->"
ZONES = ("Europe/Berlin", "America/New_York", "Pacific/Auckland", "Asia/Kolkata",
         "America/Los_Angeles")
INTERVAL = 15.0
DAY = 86400.0


def build_repo(root: Path, alerts: int, members: int, first_monday: dt.date) -> None:
    (root / "rules").mkdir(parents=True)
    spec = ["runbook_base_url: http://localhost:9630/playbooks\ngroups:\n  - name: all\n"
            "    alerts:\n"]
    spec += [alert_yaml(i) for i in range(alerts)]
    (root / "rules" / "alerts.yaml").write_text("".join(spec))
    routing = yaml.safe_load((ROOT / "alertmanager" / "routing.yaml").read_text())
    team = routing["teams"][0]
    names = [f"member{m:02d}" for m in range(members)]
    team["members"] = [{"name": n, "timezone": ZONES[m % len(ZONES)],
                        "channels": ["push", "sms", "voice"]} for m, n in enumerate(names)]
    team["schedule"]["weekly_rotation"].update(order=names, start=str(first_monday))
    team.pop("overrides", None)
    routing["horizon"] = "20w"
    (root / "alertmanager").mkdir()
    (root / "alertmanager" / "routing.yaml").write_text(yaml.safe_dump(routing))


def history(alerts: int, since: float, until: float, seed: int) -> list[Incident]:
    rng = random.Random(seed)
    out = []
    for i in range(alerts):
        name, critical = f"Synthetic{i:04d}", i % 3 == 0
        if not critical and i % 3 == 1 and i < 9:  # three warnings that never stop
            out.append(Incident(name, "warning", since - DAY, until - since + 2 * DAY))
            continue
        per_week, shortest, longest = (2, 60, 5400) if critical else (1, 600, 21600)
        count = int((until - since) / (7 * DAY) * per_week)
        for _ in range(count):
            start = since + rng.randrange(int((until - since) / INTERVAL)) * INTERVAL
            seconds = rng.randrange(shortest // 15, longest // 15) * INTERVAL
            out.append(Incident(name, "critical" if critical else "warning", start, seconds,
                                {"queue": f"q{i}"}))
    return out


def acknowledge(url: str, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    for n in range(count):
        body = {"matchers": [{"name": "alertname", "value": f"Synthetic{n % 200 * 3:04d}",
                              "isRegex": False, "isEqual": True}],
                "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
                "createdBy": "member00", "comment": f"pagerkit ack: member00 by sms: {n}"}
        requests.post(f"{url}/api/v2/silences", json=body, timeout=10).raise_for_status()


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of the command."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"report_bench: {' '.join(argv)} failed: "
                         f"{proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args()
    for binary in ("prometheus", "promtool", "prometheus-alertmanager"):
        if shutil.which(binary) is None:
            raise SystemExit(f"report_bench: {binary} is missing (make services installs it)")
    from tests.harness.paging import AlertmanagerProcess

    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    until, since = now.timestamp(), now.timestamp() - args.days * DAY
    first = (now - dt.timedelta(days=args.days + 7)).date()
    first -= dt.timedelta(days=first.weekday())
    work = Path(tempfile.mkdtemp(prefix="pagerkit-report-bench-"))
    prometheus = alertmanager = None
    try:
        build_repo(work / "repo", args.alerts, args.members, first)
        incidents = history(args.alerts, since, until, seed=1)
        log(f"backfilling {len(incidents)} incidents")
        samples = backfill(shutil.which("promtool") or "promtool", incidents, INTERVAL,
                           work / "data")
        prometheus = HistoryPrometheus(work / "data", free_port(), "15s", keep="400d")
        (work / "am.yml").write_text("route: {receiver: x}\nreceivers: [{name: x}]\n")
        alertmanager = AlertmanagerProcess(work / "am.yml", free_port())
        acknowledge(alertmanager.url, 500)
        argv = [str(ROOT / ".venv" / "bin" / "pagerkit"), "report", "--root",
                str(work / "repo"), "--since", f"{args.days}d", "--until", now.isoformat(),
                "--prometheus", prometheus.url, "--alertmanager", alertmanager.url,
                "-o", str(work / "report.html")]
        log(f"{samples} samples backfilled; running the report {args.runs} times")
        runs = [measure(argv) for _ in range(args.runs)]
        prom_version = version_of(Path(shutil.which("prometheus") or "prometheus"))
    finally:
        for proc in (alertmanager, prometheus):
            if proc is not None:
                proc.stop()
        shutil.rmtree(work, ignore_errors=True)
    seconds = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    pages = sum(1 for i in incidents if i.severity == "critical" and i.start >= since)
    table = "\n".join([
        f"Run on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs ({cpu_model()}), Python "
        f"{sys.version.split()[0]}, Prometheus {prom_version}: {args.days} days at a 15s "
        f"evaluation interval, {args.alerts} alerts, {args.members} members, {pages} pages, "
        f"{samples:,} samples of ALERTS, 500 acknowledgement silences.",
        "",
        "| measured | median | worst | target |",
        "| --- | --: | --: | --: |",
        f"| `pagerkit report -o report.html`, wall time | {seconds:.2f} s | "
        f"{max(r[0] for r in runs):.2f} s | under 10 s: "
        f"{'met' if seconds < 10 else 'NOT met'} |",
        f"| peak RSS | {rss:.0f} MB | {max(r[1] for r in runs):.0f} MB | under 200 MB: "
        f"{'met' if rss < 200 else 'NOT met'} |",
        "",
    ])
    print(table)
    if not args.no_readme:
        replace_block(HERE / "README.md", BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
