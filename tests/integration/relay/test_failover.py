"""Provider failover: a page that Twilio refuses or cannot take goes out through Vonage in
the same webhook, within the failover budget, once; only when both fail does Alertmanager
get 502. Twilio and Vonage are local stand-ins (Vonage's over TLS, as its library speaks
only HTTPS) that record what they got; Alertmanager is real."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, require
from tests.harness.provider_standin import (
    VONAGE_APPLICATION,
    VONAGE_FROM,
    VONAGE_KEY,
    VONAGE_SECRET,
    VonageStandIn,
)
from tests.harness.relay import (
    PHONES,
    RelaySetup,
    RunningRelay,
    alert,
    fire_in_alertmanager,
    relay_yaml,
    routing_yaml,
    webhook,
    write_secrets,
)
from tests.harness.tlscerts import make_tls_files

pytestmark = pytest.mark.integration
BUDGET = 4.0
"""failover_budget in these tests: each of the two providers gets 2 s at most."""


class FailoverSetup(RelaySetup):
    """The relay's setup with Vonage second for SMS and voice in routing.yaml."""

    def __init__(self, tmp: Path) -> None:
        require(shutil.which("prometheus-alertmanager") is not None,
                "prometheus-alertmanager (Debian package)")
        super().__init__(tmp)

    def _start_relay(self, tmp: Path, alertmanagers: list[str] | None,
                     dead_first: bool) -> None:
        tls = make_tls_files(tmp)
        self.vonage = VonageStandIn(tls, tmp / "vonage.key")
        self.ca = tls.ca
        password = write_secrets(tmp)
        self.port = free_port()
        routing = tmp / "routing.yaml"
        routing.write_text(routing_yaml(f"http://127.0.0.1:{self.port}",
                                        f"{self.chat.url}/chat", password)
                           + "providers: {sms: [twilio, vonage], voice: [twilio, vonage]}\n")
        self.config = relay_yaml(tmp, self.port, routing, [self.am.url], self.provider.url)
        with self.config.open("a") as config:
            config.write(f"""\
  failover_budget: {BUDGET:.0f}s
  vonage:
    api_key: {VONAGE_KEY}
    api_secret: {VONAGE_SECRET}
    from_number: "{VONAGE_FROM}"
    application_id: {VONAGE_APPLICATION}
    private_key_file: vonage.key
    api_host: {self.vonage.host}
    rest_host: {self.vonage.host}
""")
        self.relay = RunningRelay(self.config)

    def page(self, channel: str, tier: str = "2") -> tuple[requests.Response, float]:
        """Tiers 1 to ``tier`` fire in Alertmanager; the relay gets ``tier``'s page to alice,
        as Alertmanager would post it. Returns the answer and the seconds it took."""
        tiers = [alert(tier=str(t)) for t in range(1, int(tier) + 1)]
        fire_in_alertmanager(self.am.url, tiers)
        started = time.monotonic()
        response = self.relay.post(f"/page/platform/alice/{channel}", webhook(tiers[-1:]))
        return response, time.monotonic() - started

    def metric(self, line: str) -> bool:
        return line in requests.get(f"{self.relay.url}/metrics", timeout=5).text.splitlines()

    def close(self) -> None:
        super().close()
        if hasattr(self, "vonage"):
            self.vonage.close()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Callable[[], FailoverSetup]]:
    made: list[FailoverSetup] = []

    def make() -> FailoverSetup:
        made.append(FailoverSetup(tmp_path))
        # The vonage library trusts what requests trusts: the test CA, as a user's would.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(made[-1].ca))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_twilio_answering_500_sends_the_sms_through_vonage_once(setup):
    s = setup()
    s.provider.failures = 10
    response, seconds = s.page("sms")
    assert response.status_code == 200, response.text
    assert response.text.endswith(" via vonage after twilio failed\n")
    assert seconds < 1.0
    assert s.provider.sent == []
    [sms] = s.vonage.of("sms")
    assert sms.fields["To"] == PHONES["alice"].lstrip("+")
    assert sms.fields["From"] == VONAGE_FROM.lstrip("+")
    assert sms.fields["Text"].startswith("PAGE platform tier 2: Jobs wait too long")
    assert f"Ack: {s.relay.url}/a/" in sms.fields["Text"]
    assert s.provider.failures == 9  # one try at Twilio: provider_attempts is 1
    assert s.metric('pagerkit_relay_deliveries_total{channel="sms",provider="vonage"} 1.0')
    assert s.metric('pagerkit_relay_deliveries_total{channel="sms",provider="twilio"} 0.0')
    assert s.metric('pagerkit_relay_failovers_total{channel="sms",from_provider="twilio",'
                    'to_provider="vonage"} 1.0')
    assert s.metric('pagerkit_relay_provider_errors_total{provider="twilio"} 1.0')
    assert s.metric('pagerkit_relay_notifications_total{channel="sms",outcome="sent"} 1.0')

    again = s.relay.post("/page/platform/alice/sms", webhook([alert(tier="2")]))
    assert again.text == "duplicate: already sent\n"
    assert len(s.vonage.of("sms")) == 1


def test_twilio_hanging_places_the_call_through_vonage_within_the_budget(setup):
    s = setup()
    s.provider.hanging = True
    response, seconds = s.page("voice", tier="3")
    assert response.status_code == 200, response.text
    assert response.text.endswith(" via vonage after twilio failed\n")
    assert BUDGET / 2 - 0.1 < seconds < BUDGET, seconds
    [call] = s.vonage.of("call")
    assert call.fields["To"] == PHONES["alice"].lstrip("+")
    assert call.fields["Text"].startswith("This is pagerkit, paging team platform. "
                                          "Jobs wait too long for a worker.")
    assert s.provider.sent == []
    assert s.metric('pagerkit_relay_failovers_total{channel="voice",from_provider="twilio",'
                    'to_provider="vonage"} 1.0')
    assert s.metric('pagerkit_relay_deliveries_total{channel="voice",provider="vonage"} 1.0')


def test_both_failing_answers_502_and_alertmanagers_retry_sends_once(setup):
    s = setup()
    s.provider.failures, s.vonage.failures = 1, 1
    first, seconds = s.page("sms")
    assert first.status_code == 502
    assert first.text.startswith("not sent: every sms provider failed: twilio: ")
    assert "; vonage: 500 " in first.text
    assert seconds < BUDGET
    assert s.metric('pagerkit_relay_notifications_total{channel="sms",outcome="failed"} 1.0')
    assert s.metric('pagerkit_relay_provider_errors_total{provider="vonage"} 1.0')

    again = s.relay.post("/page/platform/alice/sms", webhook([alert(tier="2")]))
    assert again.status_code == 200
    assert again.text.endswith(" via twilio\n")
    assert len(s.provider.of("sms")) == 1 and s.vonage.sent == []
    assert s.metric('pagerkit_relay_failovers_total{channel="sms",from_provider="twilio",'
                    'to_provider="vonage"} 0.0')
