"""The failover's order, retries and budget, with senders that answer as providers do, and
the config it reads: routing.yaml's ``providers`` and the relay's ``vonage`` section."""

from __future__ import annotations

import threading
import time

import pytest

from pagerkit.errors import UserError
from pagerkit.relay.failover import AllProvidersFailed, Failover, Page
from pagerkit.relay.metrics import RelayMetrics
from pagerkit.relay.providers import ProviderError
from tests.conftest import ROOT
from tests.unit.relay.test_config import ENV, GOOD, load
from tests.unit.relay.test_config import folder as folder  # the fixture, re-exported

ORDER = {"sms": ("twilio", "vonage")}
SMS = Page("sms", "+4915100000001", "PAGE platform tier 2: disk full")


class Provider:
    """A provider that answers each request from ``answers`` in turn: a reference, an
    error, or "hang" (no answer until the test ends)."""

    def __init__(self, name: str, *answers: str | ProviderError) -> None:
        self.name, self.answers, self.got = name, list(answers), []  # type: list[Page]
        self.release = threading.Event()

    def __call__(self, page: Page) -> str:
        self.got.append(page)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer == "hang":
            self.release.wait(10)
            return "late"
        if isinstance(answer, ProviderError):
            raise answer
        return str(answer)


def failover(*providers: Provider, budget: float = 2.0, attempts: int = 1
             ) -> tuple[Failover, RelayMetrics]:
    metrics = RelayMetrics()
    return Failover(ORDER, {p.name: p for p in providers}, metrics, budget, attempts,
                    sleep=lambda _: None), metrics


def value(metrics: RelayMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    assert found is not None, (name, labels)
    return found


def test_a_5xx_at_the_first_provider_goes_out_through_the_second_once():
    twilio = Provider("twilio", ProviderError("twilio", "500 outage", retry=True))
    vonage = Provider("vonage", "v-1")
    f, metrics = failover(twilio, vonage)
    delivery = f.deliver(SMS)
    assert (delivery.provider, delivery.ref, delivery.failed) == ("vonage", "v-1", ("twilio",))
    assert str(delivery) == "v-1 via vonage after twilio failed"
    assert (len(twilio.got), vonage.got) == (1, [SMS])
    assert value(metrics, "pagerkit_relay_failovers_total", channel="sms",
                 from_provider="twilio", to_provider="vonage") == 1
    assert value(metrics, "pagerkit_relay_deliveries_total", channel="sms",
                 provider="vonage") == 1
    assert value(metrics, "pagerkit_relay_provider_errors_total", provider="twilio") == 1


def test_provider_attempts_retry_a_5xx_at_the_same_provider_before_failing_over():
    twilio = Provider("twilio", ProviderError("twilio", "503", retry=True), "t-1")
    vonage = Provider("vonage", "v-1")
    f, metrics = failover(twilio, vonage, attempts=2)
    assert str(f.deliver(SMS)) == "t-1 via twilio"
    assert (len(twilio.got), vonage.got) == (2, [])
    assert value(metrics, "pagerkit_relay_failovers_total", channel="sms",
                 from_provider="twilio", to_provider="vonage") == 0


def test_a_refusal_that_a_retry_would_not_change_fails_over_at_once():
    twilio = Provider("twilio", ProviderError("twilio", "401 Authenticate"))
    vonage = Provider("vonage", "v-1")
    f, _ = failover(twilio, vonage, attempts=3)
    assert f.deliver(SMS).provider == "vonage"
    assert len(twilio.got) == 1


def test_a_hanging_provider_is_given_up_at_its_share_of_the_budget():
    twilio, vonage = Provider("twilio", "hang"), Provider("vonage", "v-1")
    f, _ = failover(twilio, vonage, budget=1.0)
    started = time.monotonic()
    try:
        assert f.deliver(SMS).provider == "vonage"
    finally:
        twilio.release.set()
    assert 0.45 < time.monotonic() - started < 0.9


def test_when_every_provider_fails_the_error_names_each_and_the_budget_holds():
    twilio = Provider("twilio", ProviderError("twilio", "500", retry=True))
    vonage = Provider("vonage", "hang")
    f, metrics = failover(twilio, vonage, budget=0.6, attempts=5)
    started = time.monotonic()
    try:
        with pytest.raises(AllProvidersFailed) as caught:
            f.deliver(SMS)
    finally:
        vonage.release.set()
    assert time.monotonic() - started < 0.75
    assert str(caught.value).startswith("every sms provider failed: twilio: 500; vonage: no "
                                        "answer within 0.")
    assert len(twilio.got) >= 2  # retried within its share: each 5xx comes at once
    assert value(metrics, "pagerkit_relay_provider_errors_total", provider="vonage") == 1
    assert value(metrics, "pagerkit_relay_deliveries_total", channel="sms",
                 provider="vonage") == 0


def test_a_provider_the_relay_lacks_counts_as_failed_and_the_next_one_sends():
    vonage = Provider("vonage", "v-1")
    f, _ = failover(vonage)
    assert str(f.deliver(SMS)) == "v-1 via vonage after twilio failed"


# --- the config -------------------------------------------------------------------------

VONAGE = """\
  vonage:
    api_key: key-1
    api_secret: ${VONAGE_SECRET}
    from_number: "+15005550099"
    application_id: app-1
    private_key_file: vonage.key
"""


@pytest.fixture
def routed(folder):
    """A copy of the repository's routing.yaml that fails SMS and calls over to Vonage."""
    routing = folder / "routing.yaml"
    routing.write_text((ROOT / "alertmanager" / "routing.yaml").read_text()
                       + "providers: {sms: [twilio, vonage], voice: [twilio, vonage]}\n")
    (folder / "vonage.key").write_text("-----BEGIN PRIVATE KEY-----\nxyz\n")
    return folder


def routed_config(extra: str = VONAGE) -> str:
    return GOOD.replace(str(ROOT / "alertmanager" / "routing.yaml"), "routing.yaml") + extra


def test_vonage_and_the_order_load_with_the_secret_from_the_environment(routed):
    _, config = load(routed, routed_config(), {**ENV, "VONAGE_SECRET": "s3cret"})
    assert config.routing.providers == {"push": ("pushover",), "sms": ("twilio", "vonage"),
                                        "voice": ("twilio", "vonage")}
    assert config.vonage is not None
    assert (config.vonage.api_secret.reveal(), str(config.vonage.api_secret)) == ("s3cret",
                                                                                  "***")
    assert (config.vonage.api_host, config.vonage.rest_host) == ("api.nexmo.com",
                                                                 "rest.nexmo.com")
    assert (config.failover_budget, config.provider_attempts) == (8.0, 1)


def test_the_default_order_is_one_provider_a_channel(folder):
    _, config = load(folder, GOOD)
    assert config.routing.providers == {"push": ("pushover",), "sms": ("twilio",),
                                        "voice": ("twilio",)}
    assert config.vonage is None


@pytest.mark.parametrize(("extra", "line", "fragment"), [
    ("", 12, "alice is paged by sms but the relay has no vonage section; add it with your "
             "API key and secret"),
    (VONAGE.replace("    application_id: app-1\n", ""), 15,
     "calls through vonage (providers.voice) but relay.vonage has no application_id and "
     "private_key_file"),
    (VONAGE + "  failover_budget: 10s\n", 21,
     "relay.failover_budget 10s is not shorter than Alertmanager's deadline for a "
     "notification (10s"),
    (VONAGE.replace("api_secret: ${VONAGE_SECRET}", "api_secret_file: nowhere"), 17,
     "relay.vonage.api_secret_file: cannot read"),
    (VONAGE + "    api_host: https://api.nexmo.com\n", 21,
     'relay.vonage.api_host is "https://api.nexmo.com", which is not valid: host or '
     "host:port, no scheme"),
])
def test_a_bad_vonage_config_names_the_line_and_the_fix(routed, extra, line, fragment):
    with pytest.raises(UserError) as caught:
        load(routed, routed_config(extra), {**ENV, "VONAGE_SECRET": "s3cret"})
    message = str(caught.value)
    assert f"relay.yaml:{line}:" in message, message
    assert fragment in message, message
    assert "s3cret" not in message


def test_routing_refuses_a_provider_that_cannot_carry_the_channel(tmp_path):
    from pagerkit.oncall.routing import load_routing_file

    routing = tmp_path / "routing.yaml"
    routing.write_text((ROOT / "alertmanager" / "routing.yaml").read_text()
                       + "providers: {push: [pushover, vonage]}\n")
    with pytest.raises(UserError) as caught:
        load_routing_file(routing)
    assert "routing.yaml:" in str(caught.value) and "providers.push" in str(caught.value), \
        str(caught.value)
