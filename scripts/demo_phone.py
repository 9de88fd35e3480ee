"""The demo's phones: a stand-in for the Twilio and Pushover APIs that prints what each
member's phone would show (the push, the SMS with its links, the call's words), and
acknowledges the way a person would: a tap on the link's button, or a 1 pressed during
the call (signed as Twilio signs it)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from xml.etree import ElementTree

import requests
from twilio.request_validator import RequestValidator

from pagerkit.relay.links import BadLink, LinkSigner

ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "demo-auth-token-not-a-secret"
PUSHOVER_TOKEN = "demo-pushover-application"
FROM_NUMBER = "+15005550006"


@dataclass(frozen=True)
class Page:
    at: float
    member: str
    kind: str
    """push, sms or call."""
    alertname: str
    ack: str
    """The link to tap, or the call's key-press callback."""


class DemoPhone:
    def __init__(self, members: dict[str, str], say: Callable[[str], None],
                 signer: LinkSigner, listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        """``members``: phone number or Pushover user key -> the member's name; ``signer``
        reads which alert a link names (the demo shares the relay's key)."""
        self.members, self.say, self.signer = members, say, signer
        self.pages: list[Page] = []
        self.acknowledged: dict[str, float] = {}
        self._lock = threading.Lock()
        phone = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = phone.received(self.path, form)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(listen, Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, path: str, form: dict[str, str]) -> tuple[int, bytes]:
        if path.endswith("/Messages.json"):
            self._sms(form)
            return 201, b'{"sid": "SMdemo", "status": "queued"}'
        if path.endswith("/Calls.json"):
            self._call(form)
            return 201, b'{"sid": "CAdemo", "status": "queued"}'
        if path == "/1/messages.json":
            self._push(form)
            return 200, b'{"status": 1, "request": "demo"}'
        return 404, b'{"message": "not a demo API"}'

    def _push(self, form: dict[str, str]) -> None:
        member = self.members.get(form.get("user", ""), "?")
        name = self._alertname(form.get("url", ""))
        self._record(Page(time.monotonic(), member, "push", name, form.get("url", "")))
        self.say(f"PUSH  to {member}: {form.get('title', '')}")
        for line in form.get("message", "").splitlines():
            self.say(f"      {line}")
        self.say(f"      tap to acknowledge: {form.get('url', '')}")

    def _sms(self, form: dict[str, str]) -> None:
        member = self.members.get(form.get("To", ""), "?")
        body = form.get("Body", "")
        link = re.search(r"Ack: (\S+)", body)
        name = self._alertname(link.group(1) if link else "")
        self._record(Page(time.monotonic(), member, "sms", name, link.group(1) if link else ""))
        self.say(f"SMS   to {member} ({form.get('To')}):")
        for line in body.splitlines():
            self.say(f"      {line}")

    def _call(self, form: dict[str, str]) -> None:
        member = self.members.get(form.get("To", ""), "?")
        twiml = ElementTree.fromstring(form.get("Twiml", "<Response/>"))
        gather = twiml.find("Gather")
        action = gather.attrib.get("action", "") if gather is not None else ""
        words = " ".join(s.text or "" for s in twiml.iter("Say"))
        self._record(Page(time.monotonic(), member, "call", self._alertname(action), action))
        self.say(f"CALL  to {member} ({form.get('To')}): \"{words}\"")

    def _alertname(self, link: str) -> str:
        try:
            return self.signer.target(link.rsplit("/", 1)[-1].rsplit("t=", 1)[-1]).labels[
                "alertname"]
        except BadLink:
            return "?"

    def _record(self, page: Page) -> None:
        with self._lock:
            self.pages.append(page)

    def acknowledge(self) -> list[str]:
        """Acknowledge from the newest page of each alert still paging: tap its link's
        button (30 minutes), or press 1 if it is a call."""
        with self._lock:
            newest = {p.alertname: p for p in self.pages if p.alertname not in
                      self.acknowledged}
        for name, page in newest.items():
            if page.kind == "call":
                form = {"Digits": "1", "CallSid": "CAdemo", "To": FROM_NUMBER}
                signature = RequestValidator(AUTH_TOKEN).compute_signature(page.ack, form)
                answer = requests.post(page.ack, data=form, timeout=15,
                                       headers={"X-Twilio-Signature": signature})
                said = re.sub(r"<[^>]+>", " ", answer.text).split()
                self.say(f"KEY 1 pressed by {page.member}: \"{' '.join(said)}\"")
            else:
                answer = requests.post(page.ack, data={"for": "30m"}, timeout=15)
                found = re.search(r'id="result">([^<]+)<', answer.text)
                result = found.group(1) if found else str(answer.status_code)
                self.say(f"TAP   {page.member} taps \"Acknowledge for 30 minutes\" on the "
                         f"{page.kind} of {name}: {result}")
            if answer.status_code == 200:
                self.acknowledged[name] = time.monotonic()
        return list(newest)

    def pages_after_ack(self) -> list[Page]:
        with self._lock:
            return [p for p in self.pages if p.alertname in self.acknowledged
                    and p.at > self.acknowledged[p.alertname] + 2]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()




def main(argv: list[str] | None = None) -> int:
    """Run as docker-compose.yml's `phone`: print every page the relay sends; acknowledge
    by opening a printed link in a browser."""
    import argparse

    from pagerkit.relay.config import load_relay_config

    parser = argparse.ArgumentParser(description="Print the relay's pushes, SMS and calls.")
    parser.add_argument("--listen", default="127.0.0.1:9700", help="host:port (the relay's "
                        "twilio.api_url and pushover.api_url)")
    parser.add_argument("--relay-config", required=True, help="the relay's config: the "
                        "members' numbers and the link signing key")
    args = parser.parse_args(argv)
    config = load_relay_config(args.relay_config)
    members = {**{c.phone: name for name, c in config.contacts.items() if c.phone},
               **{c.pushover_user_key.reveal(): name for name, c in config.contacts.items()
                  if c.pushover_user_key}}

    def say(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)

    host, _, port = args.listen.rpartition(":")
    phone = DemoPhone(members, say, LinkSigner(config.signing_key.reveal(), config.link_ttl),
                      (host, int(port)))
    say(f"the phones listen on {phone.url}; open a page's link to acknowledge it")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        phone.close()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
