"""Hostile and careless input to the relay, against a real Alertmanager and the stand-in for
Twilio and Pushover: addresses that are not web addresses, labels that are quoting for
Alertmanager or markup for Slack, an Alertmanager that refuses, every method on every
route, old links against a later incident, repeated taps and repeated callbacks."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import html
import re
import uuid
from typing import Any
from xml.etree import ElementTree

import pytest
import requests

from tests.conftest import free_port
from tests.harness.browser import chromium, screenshot
from tests.harness.relay import (
    HOSTILE_URLS,
    PHONES,
    RunningRelay,
    alert,
    fire_in_alertmanager,
    relay_yaml,
    silences,
    webhook,
    write_secrets,
)
from tests.integration.relay.test_relay import LINK, Setup

pytestmark = pytest.mark.integration
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def relay(tmp_path):
    s = Setup(tmp_path)
    yield s
    s.close()


def chat_texts(s: Setup, fragment: str) -> list[str]:
    return [r.body["text"] for r in s.chat.received if fragment in r.body.get("text", "")]


def metric(s: Setup, line: str) -> bool:
    return line in requests.get(f"{s.relay.url}/metrics", timeout=5).text


def incident(name: str = "TestBreach", starts: dt.datetime | None = None, tiers: int = 2,
             **annotations: str) -> list[dict[str, Any]]:
    """Tiers 1 to ``tiers`` of one incident of ``name``, started at ``starts``."""
    out = [alert(name, tier=str(t), starts=starts) for t in range(1, tiers + 1)]
    for a in out:
        a["annotations"].update(annotations)
    return out


def end_in_alertmanager(url: str, alerts: list[dict[str, Any]], at: dt.datetime) -> None:
    """What Prometheus does when the incident ends: the alerts resolved at ``at``."""
    body = [{**a, "endsAt": at.isoformat()} for a in alerts]
    requests.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def twilio_sms(s: Setup, member: str, body: str, sid: str | None = None,
               relay_url: str | None = None) -> requests.Response:
    """Twilio posts an SMS the member sent, with ``sid`` as its MessageSid."""
    return s.provider.signed_post(f"{relay_url or s.relay.url}/twilio/sms", {
        "MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": s.provider.account_sid,
        "From": PHONES[member], "To": "+15005550006", "Body": body})


def said(twiml: str) -> list[str]:
    """What a TwiML answer says or texts back, in order."""
    return [e.text or "" for e in ElementTree.fromstring(twiml).iter() if e.tag in (
        "Say", "Message")]


# --- addresses and labels ------------------------------------------------------------------


def test_no_page_or_text_links_what_is_not_an_http_address(relay):
    """Every place the relay shows a playbook (the SMS, the push, the chat, the page and
    the page after the button) leaves out a runbook_url of another scheme, in any case,
    behind blanks, or without a host; the acknowledgement itself still works."""
    s = relay
    for i, url in enumerate(HOSTILE_URLS):
        name = f"Hostile{i:02d}"
        tiers = incident(name, runbook_url=url, summary=f"{name} fires.")
        fire_in_alertmanager(s.am.url, tiers)
        assert s.relay.post("/page/platform/alice/push", webhook(tiers[:1])).status_code == 200
        assert s.relay.post("/page/platform/alice/sms", webhook(tiers[1:])).status_code == 200
        sms = s.provider.wait_for("sms", PHONES["alice"], count=i + 1).fields["Body"]
        push = s.provider.wait_for("push", count=i + 1).fields
        [chat] = chat_texts(s, f"{name} fires.")
        link = LINK.search(sms)
        assert link is not None
        shown = requests.get(link.group(1), timeout=10)
        assert shown.status_code == 200 and "FIRING since" in shown.text
        done = requests.post(link.group(1), data={"for": "30m"}, timeout=10)
        assert done.status_code == 200 and "Acknowledged by alice until" in done.text
        assert sms == f"PAGE platform tier 2: {name} fires.\nAck: {link.group(1)}"
        assert push["message"] == f"{name} fires.\nJobs in jobs.env-03 wait."
        assert push["url"].startswith(f"{s.relay.url}/a/") and push["url"] != link.group(1)
        for where, text in (("chat", chat), ("page", shown.text), ("done", done.text),
                            ("push", " ".join(push.values()))):
            assert "Playbook" not in text and "href" not in text, (url, where, text)
            theirs = re.sub(re.escape(s.relay.url) + r"/a/\S+", "", text)  # not our links
            assert not url.strip() or html.escape(url.strip()) not in theirs, (url, where)
    assert len(silences(s.am.url)) == len(HOSTILE_URLS)


@pytest.mark.parametrize("name", [
    'Quoted"Alert"', "Back\\slash\\", "Two\nlines", "Ünïcødé ✓ 警报",
    '<!channel> "all" \\ of\nit',
], ids=["quote", "backslash", "newline", "unicode", "everything"])
def test_an_alertname_alertmanager_would_misread_is_shown_and_acknowledged(relay, name):
    """The link's lookup and the silence go through a real Alertmanager with the name
    exactly as it is; the chat hears of it escaped for Slack."""
    s = relay
    s.page("sms", alertname=name)
    link = s.sms_link()
    shown = requests.get(link, timeout=10)
    assert shown.status_code == 200, shown.text
    assert f"<h1>{html.escape(name)}</h1>" in shown.text
    assert "FIRING since" in shown.text
    done = requests.post(link, data={"for": "30m"}, timeout=10)
    assert done.status_code == 200, done.text
    [silence] = silences(s.am.url)
    assert {(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]} == {
        ("alertname", name, False), ("team", "platform", False), ("tier", "1", False)}
    again = requests.get(link, timeout=10).text
    assert "Already acknowledged" in again
    [announced] = chat_texts(s, " acknowledged ")
    expected = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert announced.startswith(f"alice acknowledged {expected} (team platform) by sms link")


def test_an_alertmanager_that_refuses_is_not_called_unreachable(relay, tmp_path):
    """A relay given a wrong path to a real Alertmanager gets 404: the page, the key press
    and the SMS reply say that Alertmanager refused, not that none can be reached."""
    s = relay
    folder = tmp_path / "wrong-path"
    write_secrets(folder)
    wrong = RunningRelay(relay_yaml(folder, free_port(), s.config.parent / "routing.yaml",
                                    [f"{s.am.url}/not-the-api"], s.provider.url))
    try:
        tiers = incident(tiers=3)
        fire_in_alertmanager(s.am.url, tiers)
        assert wrong.post("/page/platform/alice/sms", webhook(tiers[1:2])).status_code == 200
        assert wrong.post("/page/platform/alice/voice", webhook(tiers[2:])).status_code == 200
        link = s.sms_link()
        for method in ("get", "post"):
            answer = requests.request(method, link, data={"for": "30m"}, timeout=10)
            assert answer.status_code == 502, (method, answer.text)
            assert (f"NOT acknowledged: Alertmanager at {s.am.url}/not-the-api refused the "
                    "request: 404 404 page not found.") in answer.text
            assert "Try again" not in answer.text
        call = s.provider.wait_for("call", PHONES["alice"])
        assert said(s.provider.press(call, "1").text) == [
            "Alertmanager refused the acknowledgement. The page is NOT acknowledged. "
            "Use pagerkit ack."]
        [reply] = said(twilio_sms(s, "alice", "ACK", relay_url=wrong.url).text)
        assert reply == (f"NOT acknowledged: Alertmanager at {s.am.url}/not-the-api refused "
                         "the request: 404 404 page not found. Use the link.")
    finally:
        wrong.stop()
    assert silences(s.am.url) == []


# --- methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/-/healthy", "/metrics"])
def test_head_answers_like_get_without_a_body(relay, path):
    s = relay
    got = requests.get(s.relay.url + path, timeout=5)
    head = requests.head(s.relay.url + path, timeout=5)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    if path != "/metrics":  # the scrape itself changes nothing, but the length may
        assert int(head.headers["Content-Length"]) == len(got.content)
    for method in ("post", "put", "delete"):
        assert requests.request(method, s.relay.url + path, timeout=5).status_code == 405


@pytest.mark.parametrize("path", ["/page/platform/alice/sms", "/heartbeat", "/twilio/voice",
                                  "/twilio/sms"])
def test_post_only_routes_refuse_head_get_and_put_with_405(relay, path):
    s = relay
    for method in ("head", "get", "put"):
        answer = requests.request(method, s.relay.url + path, timeout=5)
        assert answer.status_code == 405, method
        assert "POST" in answer.headers["Allow"]
    assert requests.head(s.relay.url + "/no/such/route", timeout=5).status_code == 404
    assert s.provider.sent == []


def test_only_a_post_acknowledges(relay):
    s = relay
    s.page("sms")
    link = s.sms_link()
    got = requests.get(link, timeout=10)
    head = requests.head(link, timeout=10)
    assert got.status_code == head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"] == "text/html; charset=utf-8"
    assert head.headers["Cache-Control"] == "no-store"
    assert requests.put(link, data={"for": "30m"}, timeout=10).status_code == 405
    assert silences(s.am.url) == []
    assert requests.post(link, data={"for": "30m"}, timeout=10).status_code == 200
    assert len(silences(s.am.url)) == 1


# --- one incident, one silence -----------------------------------------------------------------


def test_an_old_link_does_not_acknowledge_a_later_incident(relay):
    """The link of an incident that ended, opened in Chromium while a later incident of
    the same alert fires: the page says its incident ended and has no button; a POST
    acknowledges nothing; the later incident's own link does."""
    s = relay
    first = incident(starts=NOW - dt.timedelta(minutes=40))
    fire_in_alertmanager(s.am.url, first)
    assert s.relay.post("/page/platform/alice/sms", webhook(first[1:])).status_code == 200
    old = s.sms_link()
    end_in_alertmanager(s.am.url, first, NOW - dt.timedelta(minutes=20))
    later = incident(starts=NOW - dt.timedelta(minutes=5))
    fire_in_alertmanager(s.am.url, later)
    with chromium() as browser:
        browser.set_window_size(412, 915)
        browser.get(old)
        assert browser.find_element("tag name", "h1").text == "TestBreach"
        result = browser.find_element("id", "result").text
        rest = browser.find_elements("tag name", "p")[1].text
        buttons = browser.find_elements("tag name", "button")
        forms = browser.find_elements("tag name", "form")
        screenshot(browser, "relay-ack-old-link")
    assert result == ("The incident this link was sent for has ended. This link "
                      "acknowledges nothing else.")
    assert rest.startswith("TestBreach fires again since ")
    assert buttons == [] and forms == []
    refused = requests.post(old, data={"for": "2h"}, timeout=10)
    assert refused.status_code == 409 and "<button" not in refused.text
    assert silences(s.am.url) == []
    assert s.relay.post("/page/platform/alice/sms", webhook(later[1:])).status_code == 200
    new = LINK.search(s.provider.wait_for("sms", PHONES["alice"], count=2).fields["Body"])
    assert new is not None and new.group(1) != old
    assert requests.post(new.group(1), data={"for": "30m"}, timeout=10).status_code == 200
    assert [x["createdBy"] for x in silences(s.am.url)] == ["alice"]


def test_a_second_post_of_a_link_makes_no_second_silence(relay):
    """A double tap, four at once, then the longer choice: one silence throughout, the
    same one extended; chat hears of the acknowledgement and of the extension only."""
    s = relay
    s.page("sms")
    link = s.sms_link()
    first = requests.post(link, data={"for": "30m"}, timeout=10)
    again = requests.post(link, data={"for": "30m"}, timeout=10)
    assert first.status_code == again.status_code == 200
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        taps = list(pool.map(lambda _: requests.post(link, data={"for": "30m"}, timeout=10),
                             range(4)))
    assert [t.status_code for t in taps] == [200] * 4
    [silence] = silences(s.am.url)
    until = re.search(r"Acknowledged by alice until ([^.]+)\.", first.text)
    assert until is not None and f"until {until.group(1)}." in again.text
    assert len(chat_texts(s, " acknowledged ")) == 1
    assert metric(s, 'pagerkit_relay_acknowledgements_total{channel="sms",method="link"} 1.0')
    assert requests.post(link, data={"for": "2h"}, timeout=10).status_code == 200
    [longer] = silences(s.am.url)
    assert longer["id"] == silence["id"] and longer["endsAt"] > silence["endsAt"]
    assert silences(s.am.url, "expired") == []
    assert len(chat_texts(s, " acknowledged ")) == 2


# --- SMS replies and Twilio's retries --------------------------------------------------------


def test_an_sms_reply_acknowledges_only_what_was_paged_to_its_member_by_sms(relay):
    s = relay
    pushed = incident("PushedOnly", tiers=1)
    fire_in_alertmanager(s.am.url, pushed)
    assert s.relay.post("/page/platform/alice/push", webhook(pushed)).status_code == 200
    s.page("sms", member="bob", alertname="BobsAlert")
    [nothing] = said(twilio_sms(s, "alice", "ACK").text)
    assert nothing == ("Nothing paged to you by SMS in the last hour still fires: nothing "
                       "was acknowledged. Use the link of the page.")
    assert silences(s.am.url) == []
    s.page("sms", member="alice", alertname="AlicesAlert")
    assert said(twilio_sms(s, "alice", " ack 2h ").text) == ["Acknowledged AlicesAlert."]
    [silence] = silences(s.am.url)
    assert silence["createdBy"] == "alice"
    assert silence["comment"] == "pagerkit ack: alice by sms reply"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
        ("alertname", "AlicesAlert"), ("team", "platform"), ("tier", "1")}
    assert metric(s, 'pagerkit_relay_acknowledgements_total{channel="sms",method="reply"} 1.0')


def test_an_sms_reply_does_not_acknowledge_a_later_incident(relay):
    s = relay
    first = incident(starts=NOW - dt.timedelta(minutes=40))
    fire_in_alertmanager(s.am.url, first)
    assert s.relay.post("/page/platform/alice/sms", webhook(first[1:])).status_code == 200
    s.sms_link()
    end_in_alertmanager(s.am.url, first, NOW - dt.timedelta(minutes=20))
    fire_in_alertmanager(s.am.url, incident(starts=NOW - dt.timedelta(minutes=1), tiers=1))
    [answer] = said(twilio_sms(s, "alice", "ACK").text)
    assert answer.startswith("Nothing paged to you by SMS in the last hour still fires")
    assert silences(s.am.url) == []


def test_a_repeated_message_sid_is_not_processed_again(relay):
    """Twilio retries a callback it got no answer to: the same MessageSid acknowledges
    once, and its repeat is answered with nothing to send."""
    s = relay
    s.page("sms")
    sid = "SM" + uuid.uuid4().hex
    assert said(twilio_sms(s, "alice", "ACK", sid).text) == ["Acknowledged TestBreach."]
    [silence] = silences(s.am.url)
    requests.delete(f"{s.am.url}/api/v2/silence/{silence['id']}", timeout=5).raise_for_status()
    repeat = twilio_sms(s, "alice", "ACK", sid)
    assert repeat.status_code == 200 and said(repeat.text) == []
    assert ElementTree.fromstring(repeat.text).tag == "Response"
    assert silences(s.am.url) == []
    assert said(twilio_sms(s, "alice", "ACK").text) == ["Acknowledged TestBreach."]


def test_a_repeated_call_sid_is_not_processed_again(relay):
    s = relay
    s.page("voice", tier="3")
    call = s.provider.wait_for("call", PHONES["alice"])
    gather = ElementTree.fromstring(call.fields["Twiml"]).find("Gather")
    assert gather is not None
    form = {"CallSid": "CA" + uuid.uuid4().hex, "AccountSid": s.provider.account_sid,
            "From": "+15005550006", "To": PHONES["alice"], "Digits": "1"}
    first = s.provider.signed_post(gather.attrib["action"], form)
    assert said(first.text) == [
        "Acknowledged for 30 minutes. The later tiers will not page. Goodbye."]
    [silence] = silences(s.am.url)
    requests.delete(f"{s.am.url}/api/v2/silence/{silence['id']}", timeout=5).raise_for_status()
    repeat = s.provider.signed_post(gather.attrib["action"], form)
    assert repeat.status_code == 200 and said(repeat.text) == []
    assert silences(s.am.url) == []
    assert metric(s, 'pagerkit_relay_acknowledgements_total{channel="voice",method="key_press"}'
                     ' 1.0')
