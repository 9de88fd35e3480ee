"""A local stand-in for the few Twilio and Pushover API calls the relay makes.

It records every request, answers as the providers do, and calls the relay back as Twilio
would (a key press during a call, an SMS reply), signed with the test's auth token.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from xml.etree import ElementTree

import requests
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-" + "1" * 16
PUSHOVER_TOKEN = "a" * 30
FROM_NUMBER = "+15005550006"


@dataclass(frozen=True)
class Sent:
    kind: str
    """sms, call or push."""
    fields: dict[str, str]
    at: float

    @property
    def to(self) -> str:
        return self.fields.get("To") or self.fields.get("user", "")


class ProviderStandIn:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.sent: list[Sent] = []
        self.failures = 0
        """The next this many requests answer 500, as an outage would."""
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = standin._answer(self.path, self.headers.get("Authorization"),
                                               form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, path: str, auth: str | None, form: dict[str, str]
                ) -> tuple[int, dict[str, object]]:
        with self._lock:
            if self.failures:
                self.failures -= 1
                return 500, {"message": "stand-in outage"}
        twilio = re.fullmatch(rf"/2010-04-01/Accounts/{self.account_sid}/(Messages|Calls)\.json",
                              path)
        if twilio:
            expected = "Basic " + base64.b64encode(
                f"{self.account_sid}:{self.auth_token}".encode()).decode()
            if auth != expected:
                return 401, {"code": 20003, "message": "Authenticate", "status": 401}
            kind = "sms" if twilio.group(1) == "Messages" else "call"
            self._record(kind, form)
            sid = ("SM" if kind == "sms" else "CA") + uuid.uuid4().hex
            return 201, {"sid": sid, "account_sid": self.account_sid, "status": "queued",
                         "to": form.get("To"), "from": form.get("From")}
        if path == "/1/messages.json":
            if form.get("token") != PUSHOVER_TOKEN:
                return 400, {"status": 0, "errors": ["application token is invalid"]}
            self._record("push", form)
            return 200, {"status": 1, "request": uuid.uuid4().hex}
        return 404, {"message": f"no such API: {path}"}

    def _record(self, kind: str, form: dict[str, str]) -> None:
        with self._lock:
            self.sent.append(Sent(kind, form, time.monotonic()))

    def of(self, kind: str, to: str | None = None) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.kind == kind and (to is None or s.to == to)]

    def wait_for(self, kind: str, to: str | None = None, seconds: float = 30,
                 count: int = 1) -> Sent:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.of(kind, to)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} to {to} within {seconds}s; sent: {self.sent}")

    # --- Twilio calling the relay back ------------------------------------------------------

    def signed_post(self, url: str, form: dict[str, str], token: str | None = None
                    ) -> requests.Response:
        signature = RequestValidator(token or self.auth_token).compute_signature(url, form)
        return requests.post(url, data=form, headers={"X-Twilio-Signature": signature},
                             timeout=15)

    def press(self, call: Sent, digit: str = "1", token: str | None = None
              ) -> requests.Response:
        """The callee presses a key: Twilio posts Digits to the Gather's action."""
        gather = ElementTree.fromstring(call.fields["Twiml"]).find("Gather")
        assert gather is not None, call.fields["Twiml"]
        return self.signed_post(gather.attrib["action"], {
            "CallSid": "CA" + uuid.uuid4().hex, "AccountSid": self.account_sid,
            "From": FROM_NUMBER, "To": call.to, "Digits": digit}, token)

    def reply(self, relay_public_url: str, from_number: str, body: str,
              token: str | None = None) -> requests.Response:
        """The member answers an SMS: Twilio posts it to the number's messaging webhook."""
        return self.signed_post(f"{relay_public_url}/twilio/sms", {
            "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": self.account_sid,
            "From": from_number, "To": FROM_NUMBER, "Body": body}, token)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
