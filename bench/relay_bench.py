"""How fast the relay pages and acknowledges, on loopback, against a real Alertmanager.

The relay runs in this process (as the integration tests run it), with Debian's
prometheus-alertmanager on the repository's alertmanager/alertmanager.yml, the Twilio and
Pushover stand-in, and a chat stand-in. Measured, one at a time:

1. a page: from the moment the benchmark, acting as Alertmanager, starts the webhook POST
   (version 4 payload, one alert group) to /page/platform/alice/sms until the stand-in
   receives the SMS request (its own time.monotonic() stamp); every page is a distinct
   group (BenchAlert0001, ...), since the relay drops duplicates;
2. an acknowledgement: from the moment the benchmark starts the POST of ``for=30m`` to the
   signed /a/<token> link of that SMS (its alert firing in Alertmanager) until the silence
   exists in Alertmanager: its updatedAt, Alertmanager's own stamp (wall clock, whole
   milliseconds); the chat announcement and the POST's answer follow (the relay answers
   only after Alertmanager took the silence: the upper bound). Every other acknowledgement
   is also polled for during its POST (GET /api/v2/silences from a thread, every
   ``--poll-interval`` ms), the time a client sees it, and what the polling costs.

Target: under 100 ms for each, at the p95. Also reported: the peak RSS of this process
(relay, stand-ins and client together), and Alertmanager's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from benchkit import (  # noqa: E402
    BenchError,
    cpu_model,
    log,
    met,
    on_sigterm,
    p95,
    peak_rss_mb,
    replace_block,
    version_of,
)
from tests.harness.relay import (  # noqa: E402
    PHONES,
    RelaySetup,
    alert,
    fire_in_alertmanager,
    resolve_in_alertmanager,
    webhook,
)

BEGIN = "<!-- relay-bench:begin (written by bench/relay_bench.py) -->"
END = "<!-- relay-bench:end -->"
LINK = re.compile(r"Ack: (\S+)")
TARGET_MS = 100.0
MEMBER, TIER = "alice", "2"


@dataclass
class Ack:
    """One acknowledgement's times, in ms after its POST started."""

    answered: float  # the relay's answer
    created: float  # the silence's updatedAt in Alertmanager (its clock, whole ms)
    announced: float  # the chat stand-in received the announcement
    polled: bool  # whether a poller ran during the POST
    seen: float | None = None  # the end of the first poll that listed the silence
    not_yet: float | None = None  # the start of the last poll that did not
    polls: int = 0


@dataclass
class Results:
    page_ms: list[float] = field(default_factory=list)  # webhook -> provider request
    page_answer_ms: list[float] = field(default_factory=list)  # webhook -> relay's 200
    acks: list[Ack] = field(default_factory=list)


class SilenceWatch(threading.Thread):
    """Polls Alertmanager, from the moment it starts, until the silence on ``alertname`` is
    listed as active; keeps the times of the polls around that moment."""

    def __init__(self, session: requests.Session, am_url: str, alertname: str,
                 interval: float) -> None:
        super().__init__(daemon=True)
        self.session, self.url, self.interval = session, f"{am_url}/api/v2/silences", interval
        self.params = {"filter": f'alertname="{alertname}"'}
        self.seen_at: float | None = None
        self.last_empty_start: float | None = None
        self.polls = 0
        self.deadline = time.monotonic() + 10

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            start = time.monotonic()
            listed = self.session.get(self.url, params=self.params, timeout=5).json()
            self.polls += 1
            if any(s["status"]["state"] == "active" for s in listed):
                self.seen_at = time.monotonic()
                return
            self.last_empty_start = start
            time.sleep(self.interval)


def epoch(stamp: str) -> float:
    """Alertmanager's RFC 3339 time (2026-11-26T15:45:57.776Z) in seconds since the epoch."""
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Bench:
    """Alertmanager, the stand-ins and the relay, set up as tests/integration/relay/test_relay.py
    sets them up."""

    def __init__(self, tmp: Path) -> None:
        if shutil.which("prometheus-alertmanager") is None:
            raise BenchError("prometheus-alertmanager is not on the PATH "
                             "(apt-get install prometheus-alertmanager)")
        self.stack = RelaySetup(tmp)
        self.am, self.provider, self.chat = self.stack.am, self.stack.provider, self.stack.chat
        self.relay = self.stack.relay
        self.expire_interval = self.relay.config.expire_interval
        self.poller = requests.Session()

    def page(self, name: str, results: Results | None) -> str:
        """One page of the firing alert ``name``; the SMS's acknowledgement link."""
        before = len(self.provider.of("sms"))
        payload = webhook([alert(name, tier=TIER)])
        start = time.monotonic()
        response = self.relay.post(f"/page/platform/{MEMBER}/sms", payload)
        answered = time.monotonic()
        if response.status_code != 200 or not response.text.startswith("sent "):
            raise BenchError(f"page of {name}: {response.status_code} {response.text.strip()}")
        sent = self.provider.of("sms", PHONES[MEMBER])
        if len(sent) != before + 1:
            raise BenchError(f"page of {name}: {len(sent) - before} SMS requests, not 1")
        match = LINK.search(sent[-1].fields["Body"])
        if match is None:
            raise BenchError(f"page of {name}: no link in {sent[-1].fields['Body']!r}")
        if results is not None:
            results.page_ms.append((sent[-1].at - start) * 1000)
            results.page_answer_ms.append((answered - start) * 1000)
        return match.group(1)

    def acknowledge(self, name: str, link: str, results: Results | None,
                    poll_interval: float | None) -> None:
        """Acknowledge the page of ``name`` by its link, for 30 minutes; ``poll_interval``
        (seconds): poll Alertmanager for the silence meanwhile."""
        watch = None
        if poll_interval is not None:
            watch = SilenceWatch(self.poller, self.am.url, name, poll_interval)
            watch.start()
        wall, start = time.time(), time.monotonic()
        response = requests.post(link, data={"for": "30m"}, timeout=15)
        answered = time.monotonic()
        if watch is not None:
            watch.join()
        if response.status_code != 200 or f"Acknowledged by {MEMBER} until" not in response.text:
            raise BenchError(f"acknowledgement of {name}: {response.status_code} "
                             f"{response.text[:300]}")
        if watch is not None and watch.seen_at is None:
            raise BenchError(f"acknowledgement of {name}: no silence listed within 10 s")
        listed = [s for s in self.poller.get(f"{self.am.url}/api/v2/silences", timeout=5,
                                             params={"filter": f'alertname="{name}"'}).json()
                  if s["status"]["state"] == "active"]
        if len(listed) != 1 or listed[0]["createdBy"] != MEMBER or \
                {(m["name"], m["value"]) for m in listed[0]["matchers"]} != {
                    ("alertname", name), ("team", "platform")}:
            raise BenchError(f"acknowledgement of {name}: silences {listed}")
        announced = [r.at for r in self.chat.received
                     if f"acknowledged {name} " in r.body.get("text", "")]
        if len(announced) != 1:
            raise BenchError(f"acknowledgement of {name}: {len(announced)} chat announcements")
        if results is None:
            return
        ack = Ack((answered - start) * 1000, (epoch(listed[0]["updatedAt"]) - wall) * 1000,
                  (announced[0] - start) * 1000, watch is not None)
        if watch is not None and watch.seen_at is not None:
            ack.seen, ack.polls = (watch.seen_at - start) * 1000, watch.polls
            ack.not_yet = max((watch.last_empty_start or start) - start, 0.0) * 1000
        results.acks.append(ack)

    def close(self) -> None:
        self.stack.close()


def run(args: argparse.Namespace) -> tuple[Results, dict[str, object]]:
    tmp = Path(tempfile.mkdtemp(prefix="pagerkit-relay-bench-"))
    bench = None
    try:
        log("starting Alertmanager, the stand-ins and the relay")
        bench = Bench(tmp)
        total = args.warmup + args.pages
        names = [f"BenchAlert{i:04d}" for i in range(1, total + 1)]
        firing = {name: alert(name, tier=TIER) for name in names}
        # Every alert fires in Alertmanager first, as Prometheus would have it, so that its
        # acknowledgement finds it; valid long enough for any run.
        fire_in_alertmanager(bench.am.url, list(firing.values()), minutes=60)
        results = Results()
        log(f"{args.warmup} warm-up pages, then {args.pages} measured")
        links = [bench.page(name, results if i >= args.warmup else None)
                 for i, name in enumerate(names)]
        log(f"{args.warmup} warm-up acknowledgements, then {args.pages} measured")
        for i, (name, link) in enumerate(zip(names, links, strict=True)):
            # Every other acknowledgement is polled for meanwhile, the others not.
            poll = args.poll_interval / 1000 if i % 2 else None
            bench.acknowledge(name, link, results if i >= args.warmup else None, poll)
            if not args.keep_firing:
                # The incident ends: the relay's expiry loop expires the acknowledgement.
                resolve_in_alertmanager(bench.am.url, [firing[name]])
        context: dict[str, object] = {
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "am_peak_rss_mb": peak_rss_mb(bench.am.proc.pid),
            "am_version": version_of(Path(str(shutil.which("prometheus-alertmanager")))),
            "expire_interval": bench.expire_interval,
            "chat_posts": len(bench.chat.received),
        }
        return results, context
    finally:
        if bench is not None:
            bench.close()
        shutil.rmtree(tmp, ignore_errors=True)


def row(what: str, values: list[float]) -> str:
    return (f"| {what} | {len(values)} | {statistics.median(values):.1f} | {p95(values):.1f} "
            f"| {max(values):.1f} |")


def report(results: Results, context: dict[str, object], args: argparse.Namespace) -> str:
    page = results.page_ms
    quiet = [a for a in results.acks if not a.polled]
    polled = [a for a in results.acks if a.polled]
    created = [a.created for a in quiet]
    answered = [a.answered for a in quiet]
    lifecycle = ("each alert left firing, its acknowledgement active to the end"
                 if args.keep_firing else "each alert resolved in Alertmanager right after "
                 "its acknowledgement, whose silence the relay's expiry loop then expires")
    lines = [
        f"Run on {time.strftime('%Y-%m-%d')}, {cpu_model()}, Python {sys.version.split()[0]}, "
        f"Alertmanager {context['am_version']}: {len(page)} pages and {len(results.acks)} "
        f"acknowledgements after {args.warmup} warm-up rounds of each, one at a time; the "
        f"relay's expiry loop every {context['expire_interval']:g} s, {lifecycle}.",
        "",
        "| measured, in ms after the POST started | n | median ms | p95 ms | max ms |",
        "| --- | --: | --: | --: | --: |",
        row("page: the stand-in receives the SMS request", page),
        row("page: the relay answers the webhook", results.page_answer_ms),
        row("ack: the silence is created (Alertmanager's updatedAt)", created),
        row("ack: the chat stand-in receives the announcement",
            [a.announced for a in quiet]),
        row("ack: the relay answers the POST (upper bound)", answered),
        row(f"ack, polled every {args.poll_interval:g} ms: the first poll listing the "
            "silence", [a.seen for a in polled if a.seen is not None]),
        row(f"ack, polled every {args.poll_interval:g} ms: the last poll not listing it "
            "started", [a.not_yet for a in polled if a.not_yet is not None]),
        row(f"ack, polled every {args.poll_interval:g} ms: the relay answers the POST",
            [a.answered for a in polled]),
        "",
        f"Acknowledgements alternate: every other one is polled for during its POST (GET "
        f"/api/v2/silences filtered on its alertname, from a thread of this process, "
        f"{statistics.median(a.polls for a in polled):.0f} polls at the median), the others "
        f"not; the first five rows are of the pages and the unpolled acknowledgements. "
        f"updatedAt is Alertmanager's own stamp of the silence, in whole milliseconds of the "
        f"wall clock, which the benchmark also reads when it starts the POST; after every "
        f"answer a GET lists the silence, active, created by {MEMBER}.",
        "",
        f"Peak RSS of the benchmark process (the relay with its HTTP server, the stand-ins, "
        f"the client): {context['peak_rss_mb']:.1f} MB; Alertmanager's: "
        f"{context['am_peak_rss_mb']:.1f} MB.",
        "",
        "Target: under 100 ms at the p95 for each.",
        "",
        f"{met(p95(page) < TARGET_MS)} page, webhook to provider request: "
        f"{p95(page):.1f} ms at the p95 ({statistics.median(page):.1f} ms median, "
        f"{max(page):.1f} ms max)",
        f"{met(p95(created) < TARGET_MS)} acknowledgement, POST to the silence in "
        f"Alertmanager: {p95(created):.1f} ms at the p95 ({statistics.median(created):.1f} ms "
        f"median, {max(created):.1f} ms max); the relay's answer, after it, "
        f"{p95(answered):.1f} ms at the p95",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200,
                        help="measured pages, and as many acknowledgements, half of them "
                             "polled for (at least 200)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="ms between the polls of Alertmanager's silences, during every "
                             "other acknowledgement")
    parser.add_argument("--keep-firing", action="store_true",
                        help="leave every alert firing (its acknowledgement active), instead "
                             "of resolving each after its acknowledgement")
    parser.add_argument("--no-readme", action="store_true", help="only print the table")
    args = parser.parse_args()
    if args.pages < 200:
        print("relay_bench: --pages must be at least 200", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        results, context = run(args)
    except BenchError as exc:
        print(f"relay_bench: {exc}", file=sys.stderr)
        return 1
    table = report(results, context, args)
    print(table)
    out = HERE / "results" / "relay_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"context": context, "page_ms": results.page_ms,
                               "page_answer_ms": results.page_answer_ms,
                               "acks": [vars(a) for a in results.acks]}, indent=1))
    if not args.no_readme:
        replace_block(HERE / "README.md", BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
