"""How long `pagerkit validate` takes on a large bundle: 1,000 alerts, 1,000 sections.

A synthetic repository (in a temporary folder) holds an alert spec of 1,000 alerts in 10
groups, each with a threshold and a playbook link, the generated rule files, and 10
playbook files of 100 complete sections each. Measured: `validate_bundle` in-process
(median and worst of 5 runs, after one warm-up) and the `pagerkit validate` command as a
user runs it (median of 5, Python start-up and imports included). Target: under 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from benchkit import cpu_model, replace_block  # noqa: E402

BEGIN = "<!-- validate-bench:begin (written by bench/validate_bench.py) -->"
END = "<!-- validate-bench:end -->"
GROUPS = 10


def alert_yaml(i: int) -> str:
    return f"""      - name: Synthetic{i:04d}
        severity: {"critical" if i % 3 == 0 else "warning"}
        expr: pagerkit_rabbitmq_queue_messages_ready{{queue="q{i}"}} > ${{max_ready}}
        thresholds:
          max_ready: {{value: {i + 10}, reason: a backlog of this size lasts}}
        for: 5m
        for_reason: bursts clear within minutes
        summary: Synthetic alert {i}.
        description: Queue q{i} has {{{{ $value }}}} ready messages.
        playbook: area{i % GROUPS:02d}.md#synthetic{i:04d}
"""


def section_md(i: int) -> str:
    return (f"## Synthetic{i:04d}\n\n### Impact\n\nQueue q{i} backs up.\n\n### Diagnose\n\n"
            f"```promql\npagerkit_rabbitmq_queue_messages_ready{{queue=\"q{i}\"}}\n```\n\n"
            f"### Mitigate\n\nAdd workers for q{i}.\n\n### Escalate\n\nThe owner of q{i}.\n\n")


def build_repo(root: Path, alerts: int) -> None:
    (root / "rules").mkdir()
    (root / "playbooks").mkdir()
    spec = ["runbook_base_url: http://localhost:9630/playbooks\ngroups:\n"]
    for g in range(GROUPS):
        spec.append(f"  - name: area{g:02d}\n    alerts:\n")
        spec += [alert_yaml(i) for i in range(alerts) if i % GROUPS == g]
    (root / "rules" / "alerts.yaml").write_text("".join(spec))
    for g in range(GROUPS):
        sections = [section_md(i) for i in range(alerts) if i % GROUPS == g]
        (root / "playbooks" / f"area{g:02d}.md").write_text(f"# Area {g}\n\n" + "".join(sections))
    subprocess.run([sys.executable, "-m", "pagerkit", "generate", "--root", str(root)],
                   check=True, capture_output=True)


def in_process(root: Path, runs: int) -> list[float]:
    from pagerkit.bundle.validate import validate_bundle
    from pagerkit.cli import metric_catalog

    catalog = metric_catalog()

    assert validate_bundle(root, catalog) == []  # warm-up, and the bundle must be clean
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        validate_bundle(root, catalog)
        times.append(time.perf_counter() - start)
    return times


def command(root: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pagerkit", "validate", "--root", str(root)],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def verdict(seconds: float) -> str:
    return f"{'met' if seconds < 1 else 'not met'} ({seconds:.2f} s at the median)"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pagerkit-validate-bench-"))
    try:
        build_repo(root, args.alerts)
        rules = sum(1 for _ in (root / "rules" / "generated").glob("*.rules.yml"))
        inproc, cli = in_process(root, args.runs), command(root, args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    median = statistics.median(cli)
    table = "\n".join([
        f"Run on {time.strftime('%Y-%m-%d')}, {cpu_model()}, Python "
        f"{sys.version.split()[0]}: {args.alerts} alerts in {rules} rule files "
        f"({args.alerts // 3 + 1} critical, each emitted for 3 tiers), {args.alerts} playbook "
        f"sections in {GROUPS} files.",
        "",
        "| measured | median s | worst s |",
        "| --- | --: | --: |",
        f"| `validate_bundle` in-process | {statistics.median(inproc):.3f} | {max(inproc):.3f} |",
        f"| `pagerkit validate` command | {median:.3f} | {max(cli):.3f} |",
        "",
        f"Target: under 1 s. The validation itself: {verdict(statistics.median(inproc))}. "
        f"The command, Python's start-up and imports included: {verdict(median)}.",
        "",
    ])
    print(table)
    if not args.no_readme:
        replace_block(HERE / "README.md", BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
