"""The relay against a real Alertmanager and a stand-in for Twilio and Pushover: pages out,
acknowledgements in, and everything that must acknowledge nothing."""

from __future__ import annotations

import concurrent.futures
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pagerkit.cli import main
from pagerkit.relay.links import AckTarget, LinkSigner
from tests.conftest import free_port, require
from tests.harness.browser import chromium, click_through, screenshot
from tests.harness.provider_standin import ProviderStandIn
from tests.harness.relay import (
    PHONES,
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    RelaySetup,
    alert,
    fire_in_alertmanager,
    relay_yaml,
    resolve_in_alertmanager,
    routing_yaml,
    silences,
    webhook,
    write_secrets,
)
from tests.harness.tlscerts import make_tls_files

pytestmark = pytest.mark.integration
LINK = re.compile(r"Ack: (\S+)")


class Setup(RelaySetup):
    """The relay's setup, with what the tests do to it."""

    def __init__(self, tmp: Path, alertmanagers: list[str] | None = None,
                 dead_first: bool = False) -> None:
        require(shutil.which("prometheus-alertmanager") is not None,
                "prometheus-alertmanager (Debian package)")
        super().__init__(tmp, alertmanagers, dead_first)

    def page(self, channel: str = "sms", member: str = "alice", tier: str = "2",
             **labels: str) -> tuple[dict[str, object], requests.Response]:
        """Tiers 1 to ``tier`` fire in Alertmanager; the relay gets the page of ``tier``."""
        tiers = [alert(tier=str(t), **labels) for t in range(1, int(tier) + 1)]
        fire_in_alertmanager(self.am.url, tiers)
        response = self.relay.post(f"/page/platform/{member}/{channel}", webhook(tiers[-1:]))
        return tiers, response

    def sms_link(self, member: str = "alice") -> str:
        sms = self.provider.wait_for("sms", PHONES[member])
        match = LINK.search(sms.fields["Body"])
        assert match, sms.fields["Body"]
        return match.group(1)


@pytest.fixture
def setup(tmp_path):
    made: list[Setup] = []

    def make(**kwargs) -> Setup:  # type: ignore[no-untyped-def]
        made.append(Setup(tmp_path, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_an_sms_carries_the_summary_the_ack_link_and_the_playbook(setup):
    s = setup()
    _, response = s.page("sms")
    assert response.status_code == 200, response.text
    sms = s.provider.wait_for("sms", PHONES["alice"])
    body = sms.fields["Body"]
    assert body.startswith("PAGE platform tier 2: Jobs wait too long for a worker.\nAck: "
                           f"{s.relay.url}/a/")
    assert body.endswith("\nPlaybook: http://localhost:9630/playbooks/jobs.md#"
                         "jobswaitingtoolong")
    assert len(body) <= 320
    assert sms.fields["From"] == "+15005550006"


def test_a_call_speaks_the_summary_and_asks_for_the_key_press(setup):
    s = setup()
    s.page("voice", tier="3")
    twiml = s.provider.wait_for("call", PHONES["alice"]).fields["Twiml"]
    assert "Jobs wait too long for a worker." in twiml
    assert "Press 1 to acknowledge." in twiml
    assert f'action="{s.relay.url}/twilio/voice?t=' in twiml
    assert 'numDigits="1"' in twiml


def test_a_push_links_to_the_acknowledgement_page(setup):
    s = setup()
    s.page("push", tier="1")
    push = s.provider.wait_for("push")
    assert push.fields["user"] == "ualice" + "0" * 24
    assert push.fields["url"].startswith(f"{s.relay.url}/a/")
    assert push.fields["url_title"] == "Acknowledge"
    assert "Playbook: http://localhost:9630/playbooks/jobs.md#jobswaitingtoolong" in \
        push.fields["message"]
    chat = s.chat.wait_for("/chat", 10)  # tier 1 is also announced in the team's chat
    assert chat.body["text"].startswith("Paging alice (push, tier 1): Jobs wait too long")
    assert f"Acknowledge: {s.relay.url}/a/" in chat.body["text"]


def test_opening_the_link_acknowledges_nothing_posting_it_does(setup):
    """A GET (what a link previewer does) only shows the page; the button's POST makes the
    silence, created by the member, with the channel in its comment, and chat hears of it."""
    s = setup()
    s.page("sms")
    link = s.sms_link()
    shown = requests.get(link, timeout=10)
    assert shown.status_code == 200
    assert "FIRING since" in shown.text and "alice" in shown.text
    assert "Acknowledge for 30 minutes" in shown.text and "Acknowledge for 2 hours" in shown.text
    assert 'href="http://localhost:9630/playbooks/jobs.md#jobswaitingtoolong"' in shown.text
    assert silences(s.am.url) == []
    done = requests.post(link, data={"for": "2h"}, timeout=10)
    assert done.status_code == 200, done.text
    assert "Acknowledged by alice until" in done.text
    [silence] = silences(s.am.url)
    assert silence["createdBy"] == "alice"
    assert silence["comment"] == "pagerkit ack: alice by sms link"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
        ("alertname", "TestBreach"), ("team", "platform"), ("tier", "1")}
    assert [m["isEqual"] for m in silence["matchers"] if m["name"] == "tier"] == [False]
    announced = [r.body["text"] for r in s.chat.received if "acknowledged" in r.body["text"]]
    assert len(announced) == 1
    assert re.fullmatch(r"alice acknowledged TestBreach \(team platform\) by sms link at "
                        r"\d\d:\d\d CES?T \(\d\d:\d\d UTC\), until \d\d:\d\d CES?T: the later "
                        r"tiers will not page", announced[0]), announced[0]


def test_forged_and_expired_links_get_403_and_no_silence(setup):
    s = setup()
    s.page("sms")
    link = s.sms_link()
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    key = (s.config.parent / "signing_key").read_text()
    old = LinkSigner(key, 3600, clock=lambda: time.time() - 7200).token(
        AckTarget("alice", "sms", {"alertname": "TestBreach", "team": "platform"}))
    other_key = LinkSigner("another key entirely, not the relay's", 3600).token(
        AckTarget("alice", "sms", {"alertname": "TestBreach", "team": "platform"}))
    for url, reason in ((forged, "not valid"), (f"{s.relay.url}/a/{old}", "expired"),
                        (f"{s.relay.url}/a/{other_key}", "not valid")):
        for method in ("get", "post"):
            response = requests.request(method, url, data={"for": "30m"}, timeout=10)
            assert response.status_code == 403, (url, method)
            assert reason in response.text and "nothing was acknowledged" in response.text
    assert silences(s.am.url) == []


def test_callbacks_without_twilios_signature_get_403(setup):
    s = setup()
    s.page("voice", tier="3")
    call = s.provider.wait_for("call", PHONES["alice"])
    assert s.provider.press(call, "1", token="not the auth token").status_code == 403
    assert s.provider.reply(s.relay.url, PHONES["alice"], "ACK",
                            token="not the auth token").status_code == 403
    unsigned = requests.post(f"{s.relay.url}/twilio/sms",
                             data={"From": PHONES["alice"], "Body": "ACK"}, timeout=10)
    assert unsigned.status_code == 403
    assert silences(s.am.url) == []


def test_no_alertmanager_reachable_says_not_acknowledged_with_503(setup, tmp_path):
    s = setup(alertmanagers=[f"http://127.0.0.1:{free_port()}"])
    s.relay.post("/page/platform/alice/sms", webhook([alert(tier="2")]))
    link = s.sms_link()
    for method in ("get", "post"):
        response = requests.request(method, link, data={"for": "30m"}, timeout=20)
        assert response.status_code == 503
        assert "NOT acknowledged" in response.text
        assert "Acknowledged by" not in response.text
    assert silences(s.am.url) == []


def test_the_first_peer_down_the_acknowledgement_lands_on_the_second(setup):
    s = setup(dead_first=True)
    assert len(s.relay.config.alertmanagers) == 2
    s.page("sms")
    assert requests.post(s.sms_link(), data={"for": "30m"}, timeout=20).status_code == 200
    assert [x["createdBy"] for x in silences(s.am.url)] == ["alice"]


def test_duplicates_send_one_sms(setup):
    """Alertmanager's retry and an HA peer's copy of the same group: one SMS."""
    s = setup()
    firing = [alert(tier="2")]
    fire_in_alertmanager(s.am.url, firing)
    body = webhook(firing)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: s.relay.post("/page/platform/alice/sms", body),
                                range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert s.relay.post("/page/platform/alice/sms", body).status_code == 200
    time.sleep(0.5)
    assert len(s.provider.of("sms")) == 1
    assert sum("duplicate" in a.text for a in answers) == 3


def test_a_malformed_webhook_gets_400_then_a_valid_one_is_delivered(setup):
    s = setup()
    for bad in (b"{not json", {"version": "3", "alerts": []},
                {**webhook([alert()]), "alerts": []}, b"x" * (2 << 20)):
        response = s.relay.post("/page/platform/alice/sms", bad)
        assert response.status_code == 400, response.text
    assert s.relay.post("/page/platform/alice/sms", webhook([alert(tier="2")])
                        ).status_code == 200
    time.sleep(0.3)
    assert len(s.provider.of("sms")) == 1


def test_webhooks_need_the_password_and_a_known_member(setup):
    s = setup()
    body = webhook([alert()])
    assert s.relay.post("/page/platform/alice/sms", body, auth=None).status_code == 401
    assert s.relay.post("/page/platform/alice/sms", body, auth=("alertmanager", "wrong")
                        ).status_code == 401
    assert s.relay.post("/page/platform/mallory/sms", body).status_code == 400
    assert s.relay.post("/page/platform/alice/fax", body).status_code == 404
    assert s.provider.sent == []


def test_a_provider_outage_gets_502_and_alertmanagers_retry_sends_once(setup):
    s = setup()
    s.provider.failures = 1
    _, first = s.page("sms")
    assert first.status_code == 502
    again = s.relay.post("/page/platform/alice/sms", webhook([alert(tier="2")]))
    assert again.status_code == 200
    assert len(s.provider.of("sms")) == 1
    metrics = requests.get(f"{s.relay.url}/metrics", timeout=5).text
    assert 'pagerkit_relay_notifications_total{channel="sms",outcome="failed"} 1.0' in metrics
    assert 'pagerkit_relay_notifications_total{channel="sms",outcome="sent"} 1.0' in metrics
    assert 'pagerkit_relay_provider_errors_total{provider="twilio"} 1.0' in metrics


def test_a_resolved_alert_has_its_acknowledgement_expired(setup):
    s = setup()
    firing, _ = s.page("sms")
    assert requests.post(s.sms_link(), data={"for": "2h"}, timeout=10).status_code == 200
    assert len(silences(s.am.url)) == 1
    time.sleep(1.5)  # an expiry round passes: the alert still fires, the silence stays
    assert len(silences(s.am.url)) == 1
    fire_in_alertmanager(s.am.url, [alert("OtherAlert"), alert(team="other-team")])
    resolve_in_alertmanager(s.am.url, firing)  # others still fire: they keep nothing alive
    deadline = time.monotonic() + 15
    while silences(s.am.url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert silences(s.am.url) == []
    assert [x["createdBy"] for x in silences(s.am.url, "expired")] == ["alice"]
    metrics = requests.get(f"{s.relay.url}/metrics", timeout=5).text
    assert "pagerkit_relay_silences_expired_total 1.0" in metrics
    assert 'pagerkit_relay_acknowledgements_total{channel="sms",method="link"} 1.0' in metrics
    assert "pagerkit_relay_time_to_acknowledge_seconds_count 1.0" in metrics


def test_a_bad_relay_config_exits_2_before_listening(tmp_path, capsys):
    config = tmp_path / "relay.yaml"
    config.write_text("relay:\n  public_url: http://x\n")
    assert main(["relay", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:1: relay is missing the required key 'routing_file'" in err


def test_the_acknowledgement_page_in_a_browser(setup):
    """Chromium opens the link of a recorded SMS, shows what fires, and its button makes
    the silence."""
    s = setup()
    s.page("sms")
    link = s.sms_link()
    with chromium() as browser:
        browser.set_window_size(412, 915)  # a phone's screen
        browser.get(link)
        assert browser.find_element("tag name", "h1").text == "TestBreach"
        assert browser.find_element("css selector", "p.bad").text.startswith("FIRING since")
        assert silences(s.am.url) == []
        screenshot(browser, "relay-ack-page")
        click_through(browser, browser.find_element("xpath", "//button[@value='30m']"))
        result = browser.find_element("id", "result").text
        screenshot(browser, "relay-ack-done")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert result.startswith("Acknowledged by alice until ")
    assert errors == []
    [silence] = silences(s.am.url)
    assert silence["createdBy"] == "alice"


def test_pagerkit_relay_serves_https_and_stops_on_sigterm(tmp_path):
    """The command itself: TLS from the web config, a page through it, exit 0 on SIGTERM."""
    provider = ProviderStandIn()
    tls = make_tls_files(tmp_path)
    (tmp_path / "web.yml").write_text(f"tls_server_config:\n  cert_file: {tls.server_cert}\n"
                                      f"  key_file: {tls.server_key}\n")
    password = write_secrets(tmp_path)
    port = free_port()
    routing = tmp_path / "routing.yaml"
    routing.write_text(routing_yaml(f"https://127.0.0.1:{port}", "http://127.0.0.1:1/chat",
                                    password))
    config = relay_yaml(tmp_path, port, routing, ["http://127.0.0.1:1"], provider.url)
    config.write_text(config.read_text().replace("public_url: http://", "public_url: https://")
                      + "  web_config_file: web.yml\n")
    proc = subprocess.Popen([sys.executable, "-m", "pagerkit", "relay", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/-/healthy", verify=tls.ca, timeout=2).ok:
                    break
            except requests.exceptions.ConnectionError:
                time.sleep(0.2)
        page = requests.post(f"{url}/page/platform/bob/sms", json=webhook([alert(tier="2")]),
                             auth=(WEBHOOK_USER, WEBHOOK_PASSWORD), verify=tls.ca, timeout=10)
        assert page.status_code == 200, page.text
        assert provider.wait_for("sms", PHONES["bob"]).fields["Body"].split("\n")[1].startswith(
            f"Ack: {url}/a/")
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/-/healthy", timeout=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0].decode()
        provider.close()
    assert proc.returncode == 0, out
    assert "relay listening on 127.0.0.1" in out
