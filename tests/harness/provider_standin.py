"""A local stand-in for the few Twilio and Pushover API calls the relay makes.

It records every request, answers as the providers do, and calls the relay back as Twilio
would (a key press during a call, an SMS reply), signed with the test's auth token.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

import requests
from twilio.request_validator import RequestValidator

from tests.harness.tlscerts import TLSFiles

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
        self.hanging = False
        """Requests get no answer until ``close``, as from a frozen provider."""
        self._closing = threading.Event()
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
        if self.hanging:
            self._closing.wait()
            return 500, {"message": "stand-in hung"}
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
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()


VONAGE_KEY, VONAGE_SECRET = "vonage-key", "vonage-secret-" + "2" * 16
VONAGE_APPLICATION = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
VONAGE_FROM = "+15005550099"


class VonageStandIn:
    """Vonage's SMS (``/sms/json``) and Voice (``/v1/calls``) APIs over TLS, as the library
    speaks only HTTPS: it checks the API key and secret, and the call's JWT against the
    application's public key, and records what it got (``Sent`` with ``To`` and ``Text``)."""

    def __init__(self, tls: TLSFiles, private_key_file: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                       NoEncryption()))
        self.public_key = key.public_key()
        self.sent: list[Sent] = []
        self.failures = 0
        """The next this many requests answer 500."""
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                status, body = standin._answer(self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.server_cert, tls.server_key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, path: str, headers: Any, raw: str) -> tuple[int, dict[str, object]]:
        with self._lock:
            if self.failures:
                self.failures -= 1
                return 500, {"title": "stand-in outage"}
        if path == "/sms/json":
            basic = "Basic " + base64.b64encode(f"{VONAGE_KEY}:{VONAGE_SECRET}".encode()).decode()
            if headers.get("Authorization") != basic:
                return 401, {"title": "Unauthorized"}
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            self._record("sms", {"To": form["to"], "From": form["from"], "Text": form["text"]})
            return 200, {"message-count": "1", "messages": [
                {"to": form["to"], "message-id": uuid.uuid4().hex, "status": "0",
                 "remaining-balance": "10.0", "message-price": "0.05", "network": "00000"}]}
        if path == "/v1/calls":
            import jwt

            token = str(headers.get("Authorization", "")).removeprefix("Bearer ")
            try:
                claims = jwt.decode(token, self.public_key, algorithms=["RS256"])
            except jwt.InvalidTokenError:
                return 401, {"title": "Unauthorized"}
            if claims.get("application_id") != VONAGE_APPLICATION:
                return 401, {"title": "Unauthorized"}
            call = json.loads(raw)
            self._record("call", {"To": call["to"][0]["number"], "From": call["from"]["number"],
                                  "Text": call["ncco"][0]["text"]})
            return 201, {"uuid": str(uuid.uuid4()), "status": "started",
                         "direction": "outbound", "conversation_uuid": "CON-" + uuid.uuid4().hex}
        return 404, {"title": f"no such API: {path}"}

    def _record(self, kind: str, fields: dict[str, str]) -> None:
        with self._lock:
            self.sent.append(Sent(kind, fields, time.monotonic()))

    def of(self, kind: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.kind == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
