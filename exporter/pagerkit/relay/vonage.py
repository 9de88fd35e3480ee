"""SMS and calls through Vonage, the second provider a page fails over to.

The ``vonage`` packages do the HTTP: ``vonage_sms`` (API key and secret) and
``vonage_voice`` (an application's JWT). The library builds ``https://{host}`` and trusts
the CAs ``REQUESTS_CA_BUNDLE`` names, so a stand-in speaks TLS. Its own retries are off:
the relay's failover decides what to try again, within its budget.

A call speaks the summary and points to the link in the SMS or push: Vonage's key presses
come back on Vonage's own webhook, which the relay does not serve, so a call through
Vonage cannot be acknowledged by pressing 1.
"""

from __future__ import annotations

from typing import Any

import requests

from .config import Vonage
from .providers import ProviderError, request_error


class VonageSender:
    def __init__(self, config: Vonage, timeout: float) -> None:
        from vonage_http_client import Auth, HttpClient, HttpClientOptions
        from vonage_sms import Sms
        from vonage_voice import Voice

        auth = Auth(api_key=config.api_key, api_secret=config.api_secret.reveal(),
                    application_id=config.application_id,
                    private_key=config.private_key.reveal() if config.private_key else None)
        client = HttpClient(auth, HttpClientOptions(
            api_host=config.api_host, rest_host=config.rest_host,
            timeout=max(1, round(timeout)), max_retries=0))
        self.from_number = config.from_number.lstrip("+")
        self.sms_api, self.voice_api = Sms(client), Voice(client)

    def sms(self, to: str, body: str) -> str:
        from vonage_sms import SmsMessage

        message = SmsMessage(to=to.lstrip("+"), from_=self.from_number, text=body)
        response = self._call(lambda: self.sms_api.send(message))
        return str(response.messages[0].message_id)

    def call(self, to: str, spoken: str) -> str:
        """Call ``to`` and say ``spoken`` twice."""
        from vonage_voice import CreateCallRequest, Talk

        request = CreateCallRequest(
            to=[{"type": "phone", "number": to.lstrip("+")}],
            from_={"type": "phone", "number": self.from_number},
            ncco=[Talk(text=spoken[:1500], loop=2)])
        return str(self._call(lambda: self.voice_api.create_call(request)).uuid)

    @staticmethod
    def _call(send: Any) -> Any:
        from pydantic import ValidationError
        from vonage_http_client.errors import HttpRequestError
        from vonage_utils.errors import VonageError

        try:
            return send()
        except HttpRequestError as exc:
            status = exc.response.status_code
            raise ProviderError("vonage", f"{status} {exc.response.text.strip()[:200]}",
                                retry=status >= 500) from None
        except ValidationError as exc:
            # The library checks a number or a text before sending anything.
            raise ProviderError("vonage", f"refused before sending: {exc.error_count()} "
                                          "invalid field(s)") from None
        except VonageError as exc:
            # SmsError: Vonage answered 200 with a refusal (throttled, no credit, ...).
            raise ProviderError("vonage", str(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise request_error("vonage", exc) from None
