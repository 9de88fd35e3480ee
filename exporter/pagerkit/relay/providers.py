"""The relay's outgoing messages: SMS and calls through Twilio, pushes through Pushover, and
posts to a team's chat. Each raises ``ProviderError`` on any failure; ``failover`` then
tries the channel's next provider, and when every one failed the relay answers Alertmanager
5xx and Alertmanager retries."""

from __future__ import annotations

from typing import Any

import requests

from ..oncall.routing import Team
from ..secrets import REDACTOR, Secret, read_secret_file
from .config import Twilio


class ProviderError(Exception):
    """``retry``: the provider surely sent nothing and may take it on a second try (a 5xx,
    a refused connection); after a timeout it may have sent, so the next provider goes."""

    def __init__(self, provider: str, message: str, *, retry: bool = False) -> None:
        super().__init__(f"{provider}: {REDACTOR.scrub(message)}")
        self.provider = provider
        self.retry = retry


def request_error(provider: str, exc: requests.exceptions.RequestException) -> ProviderError:
    """A transport failure as a ``ProviderError``: a connection that failed is worth a
    retry, a request that timed out is not (the provider may have taken it)."""
    retry = isinstance(exc, requests.exceptions.ConnectionError) and \
        not isinstance(exc, requests.exceptions.ReadTimeout)
    return ProviderError(provider, f"{type(exc).__name__}: {exc}", retry=retry)


class TwilioSender:
    """SMS and calls with the ``twilio`` library; ``api_url`` replaces Twilio's API host
    (a test's stand-in)."""

    def __init__(self, config: Twilio, timeout: float) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.request_validator import RequestValidator
        from twilio.rest import Client

        self.from_number = config.from_number
        self.client = Client(config.account_sid, config.auth_token.reveal(),
                             http_client=TwilioHttpClient(timeout=timeout))
        self.client.api.base_url = config.api_url
        self.validator = RequestValidator(config.auth_token.reveal())

    def sms(self, to: str, body: str) -> str:
        return self._create(lambda: self.client.messages.create(
            to=to, from_=self.from_number, body=body))

    def call(self, to: str, twiml: str) -> str:
        return self._create(lambda: self.client.calls.create(
            to=to, from_=self.from_number, twiml=twiml))

    def signed(self, url: str, params: Any, signature: str) -> bool:
        """Whether a callback carries Twilio's signature of ``url`` and ``params``."""
        return bool(signature) and bool(self.validator.validate(url, params, signature))

    def _create(self, create: Any) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return str(create().sid)
        except TwilioRestException as exc:
            raise ProviderError("twilio", str(exc), retry=exc.status >= 500) from None
        except TwilioException as exc:
            raise ProviderError("twilio", str(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise request_error("twilio", exc) from None


class PushoverSender:
    def __init__(self, token: Secret, api_url: str, timeout: float) -> None:
        self.token, self.url, self.timeout = token, f"{api_url}/1/messages.json", timeout
        self.session = requests.Session()

    def push(self, user_key: Secret, fields: dict[str, str]) -> str:
        data = {"token": self.token.reveal(), "user": user_key.reveal(), **fields}
        try:
            response = self.session.post(self.url, data=data, timeout=self.timeout)
        except requests.exceptions.RequestException as exc:
            raise request_error("pushover", exc) from None
        if response.status_code != 200:
            raise ProviderError("pushover", f"{response.status_code} "
                                            f"{response.text.strip()[:200]}",
                                retry=response.status_code >= 500)
        return str(response.json().get("request", ""))


def post_chat(team: Team, text: str, timeout: float) -> None:
    """Say ``text`` in the team's chat: Slack's incoming webhook (URL from its file), or a
    plain JSON webhook. Teams without chat get nothing."""
    chat = dict(team.chat)
    if "webhook_url" in chat:
        url, body = chat["webhook_url"], {"text": text, "team": team.name}
    elif "slack_api_url_file" in chat:
        try:
            url = read_secret_file(chat["slack_api_url_file"])
        except OSError as exc:
            raise ProviderError("chat", f"cannot read {chat['slack_api_url_file']}: "
                                        f"{exc.strerror}") from None
        REDACTOR.add(Secret(url))
        body = {"channel": chat.get("slack_channel", "#alerts"), "text": text}
    else:
        return
    try:
        response = requests.post(url, json=body, timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise ProviderError("chat", f"{type(exc).__name__}: {exc}") from None
    if response.status_code >= 300:
        raise ProviderError("chat", f"{response.status_code} {response.text.strip()[:200]}")
