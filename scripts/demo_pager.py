"""The demo's terminal pager: it stands where the relay would, receives Alertmanager's
pages, prints each one (who, through which channel and tier, the summary, the playbook
link), and acknowledges them by creating the silence the relay would create."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pagerkit.ack import acknowledge

CHANNELS = {"push": "push notification", "sms": "SMS", "voice": "voice call"}


@dataclass(frozen=True)
class Page:
    at: float
    member: str
    channel: str
    tier: str
    alertname: str


class TerminalPager:
    def __init__(self, alertmanager: str, say: Callable[[str], None],
                 listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.alertmanager = alertmanager
        self.say = say
        self.pages: list[Page] = []
        self.acknowledged: dict[str, float] = {}
        self._lock = threading.Lock()
        self._heartbeat = False
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                pager.received(self.path, body)

        self.server = ThreadingHTTPServer(listen, Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, path: str, body: dict[str, object]) -> None:
        parts = path.strip("/").split("/")
        if parts == ["heartbeat"]:
            if not self._heartbeat:
                self._heartbeat = True
                self.say("heartbeat: the Watchdog reached the pager (the pipeline works)")
            return
        if len(parts) != 4 or parts[0] != "page" or body.get("status") != "firing":
            return
        _, _, member, channel = parts
        for alert in body.get("alerts", []):  # type: ignore[attr-defined]
            labels, notes = alert["labels"], alert["annotations"]
            page = Page(time.monotonic(), member, channel, labels.get("tier", "?"),
                        labels["alertname"])
            with self._lock:
                self.pages.append(page)
            self.say(f"PAGE  {member} by {CHANNELS.get(channel, channel)} (tier {page.tier}): "
                     f"{labels['alertname']}: {notes.get('summary', '')}")
            self.say(f"      {notes.get('description', '')}")
            self.say(f"      playbook: {notes.get('runbook_url', '')}")

    def paging(self) -> list[str]:
        """Alert names paged and not yet acknowledged, in the order they first paged."""
        with self._lock:
            names = [p.alertname for p in self.pages]
        return [n for n in dict.fromkeys(names) if n not in self.acknowledged]

    def acknowledge(self, hours: float = 1.0) -> list[str]:
        """A silence on each paging alertname: what the relay's acknowledgement creates."""
        names = self.paging()
        for name in names:
            acknowledge(self.alertmanager, name, None, hours * 3600,
                        "acknowledged from the demo pager")
            self.acknowledged[name] = time.monotonic()
            self.say(f"ACK   {name}: silenced for {hours:g} h; its later tiers will not come")
        return names

    def pages_after_ack(self) -> list[Page]:
        with self._lock:
            return [p for p in self.pages
                    if p.alertname in self.acknowledged and p.at > self.acknowledged[p.alertname]
                    + 2]  # a page already on its way when the silence was made

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()



def main() -> int:
    """Run as a sink (docker-compose.yml's `pager`): print every page, acknowledge none."""
    parser = argparse.ArgumentParser(description="Print Alertmanager's pages as they come.")
    parser.add_argument("--listen", default="127.0.0.1:9632", help="host:port (the relay_url)")
    parser.add_argument("--alertmanager", default="http://127.0.0.1:9093")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")

    def say(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)

    pager = TerminalPager(args.alertmanager, say, (host, int(port)))
    say(f"pager listening on {pager.url}; acknowledge with amtool or the Alertmanager UI")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
