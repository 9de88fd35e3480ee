"""Hostile and careless input to the relay's pure parts: annotations that are not web
addresses, labels that are markup for Slack or quoting for Alertmanager, and old links
against a later incident of the same alert."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from pagerkit.alertmanager import matcher_text
from pagerkit.relay import ackpage
from pagerkit.relay.links import AckTarget, BadLink, LinkSigner
from pagerkit.relay.memory import SmsPages
from pagerkit.relay.texts import (
    chat_ack_text,
    chat_page_text,
    parse_notification,
    push_fields,
    slack_escaped,
    sms_text,
    web_url,
)
from tests.harness.relay import HOSTILE_URLS, alert, webhook

LINK = "https://pager.example.com/a/token"
START = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)


def notification(runbook: str | None = None, summary: str = "Jobs wait too long.",
                 alertname: str = "TestBreach", channel: str = "sms"
                 ):  # type: ignore[no-untyped-def]
    a = alert(alertname, tier="1", starts=START)
    a["annotations"]["summary"] = summary
    if runbook is None:
        del a["annotations"]["runbook_url"]
    else:
        a["annotations"]["runbook_url"] = runbook
    return parse_notification(json.dumps(webhook([a])).encode(), "platform", "carol", channel)


def am_alert(runbook: str, starts: dt.datetime = START, **labels: str) -> dict[str, Any]:
    """An alert as Alertmanager's API lists it."""
    return {"labels": {"alertname": "TestBreach", "team": "platform", "tier": "1", **labels},
            "annotations": {"summary": "Jobs wait too long.", "runbook_url": runbook},
            "startsAt": starts.isoformat().replace("+00:00", "Z"), "status": {}}


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_http_and_https_addresses_are_web_urls(url):
    assert web_url(url) is None


@pytest.mark.parametrize("url", ["http://localhost:9630/playbooks/jobs.md#jobswaitingtoolong",
                                 "HTTPS://GitHub.com/acme/platform/blob/main/playbooks/a.md",
                                 "https://wiki.example.com/x?a=1&b=2#c"])
def test_web_addresses_stay_as_they_are(url):
    assert web_url(url) == url


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_no_text_out_carries_a_hostile_playbook_address(url):
    """SMS, push and chat leave the playbook out rather than carry what is not a web
    address; the acknowledgement link stays."""
    n = notification(url)
    texts = {"sms": sms_text(n, LINK, 320), "chat": chat_page_text(n, LINK),
             **push_fields(n, LINK)}
    for where, text in texts.items():
        assert "Playbook" not in text, (where, text)
        if url.strip():
            assert url.strip() not in text, (where, text)
    assert texts["url"] == LINK
    assert texts["sms"] == f"PAGE platform tier 1: Jobs wait too long.\nAck: {LINK}"


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_no_page_links_a_hostile_playbook_address(url):
    now = START + dt.timedelta(minutes=7)
    target = AckTarget("carol", "sms", {"alertname": "TestBreach", "team": "platform"},
                       int(START.timestamp()))
    shown = ackpage.alert_page(target, [am_alert(url)], "UTC", now).decode()
    done = ackpage.acknowledged_page(target, now, "UTC", url).decode()
    for page in (shown, done):
        assert "href" not in page and "playbook" not in page.lower()
    assert shown.count("<button") == 2  # the page itself still works


def test_a_web_playbook_address_is_linked_and_escaped():
    url = 'https://wiki.example.com/a?b=1&c="2"'
    page = ackpage.acknowledged_page(AckTarget("carol", "sms", {"alertname": "X"}),
                                     START, "UTC", url).decode()
    assert '<a href="https://wiki.example.com/a?b=1&amp;c=&quot;2&quot;" rel="noreferrer">' \
           'Open the playbook</a>' in page


def test_chat_texts_escape_what_slack_interprets():
    n = notification("https://wiki.example.com/a?b=1&c=2",
                     summary="<!channel> look at <https://evil.example|the playbook> & run")
    text = chat_page_text(n, LINK)
    assert text == ("Paging carol (sms, tier 1): &lt;!channel&gt; look at "
                    "&lt;https://evil.example|the playbook&gt; &amp; run. Playbook: "
                    f"https://wiki.example.com/a?b=1&amp;c=2 Acknowledge: {LINK}")
    assert "<" not in text and ">" not in text
    ack = chat_ack_text("carol", {"alertname": "<!here>", "team": "<@U123>"}, "sms link",
                        START, START + dt.timedelta(minutes=30), "UTC")
    assert ack.startswith("carol acknowledged &lt;!here&gt; (team &lt;@U123&gt;) by sms link")
    assert slack_escaped("a&lt;") == "a&amp;lt;"  # escaped once, so Slack shows what was sent


@pytest.mark.parametrize(("value", "expected"), [
    ("plain", 'alertname="plain"'),
    ('say "hi"', r'alertname="say \"hi\""'),
    ("C:\\path\\", r'alertname="C:\\path\\"'),
    ("two\nlines", r'alertname="two\nlines"'),
    ("ünïcødé ✓", 'alertname="ünïcødé ✓"'),
    ('\\"', r'alertname="\\\""'),
])
def test_matchers_escape_quotes_backslashes_and_newlines(value, expected):
    assert matcher_text("alertname", value) == expected


def test_a_label_name_outside_the_classic_characters_is_quoted():
    assert matcher_text("service.name", 'a"b') == r'"service.name"="a\"b"'


def test_a_link_names_its_incident_and_stays_short_enough_for_an_sms():
    now = [1_800_000_000.0]
    signer = LinkSigner("k" * 48, 86400, clock=lambda: now[0])
    started = int(now[0]) - 35 * 60  # tier 4, 35 minutes after the alert started
    target = AckTarget("carol", "sms", {"alertname": "JobsWaitingTooLong", "team": "platform"},
                       started)
    token = signer.token(target)
    read = signer.target(token)
    assert read == target and read.started == started and read.signed_at == int(now[0])
    assert len(token) < 110  # as before the incident was named: 7 characters more
    unbound = signer.token(AckTarget("carol", "sms", target.labels))
    assert len(token) - len(unbound) == 7


def test_an_old_link_acknowledges_its_incident_not_a_later_one():
    signer = LinkSigner("k" * 48, 86400, clock=lambda: START.timestamp() + 600)
    target = signer.target(signer.token(AckTarget(
        "carol", "sms", {"alertname": "TestBreach", "team": "platform"},
        int(START.timestamp()))))
    same = [am_alert("https://x.example", START, tier="1"),
            am_alert("https://x.example", START + dt.timedelta(minutes=10), tier="2")]
    later = [am_alert("https://x.example", START + dt.timedelta(hours=3))]
    assert target.goes_on(same)
    assert not target.goes_on(later)
    assert not target.goes_on([])
    page = ackpage.alert_page(target, later, "Europe/Berlin",
                              START + dt.timedelta(hours=3, minutes=5)).decode()
    assert "The incident this link was sent for has ended" in page
    assert "<button" not in page and "<form" not in page
    assert "since Thu 07:00 CET (06:00 UTC)" in page


def test_a_link_of_an_older_relay_is_bound_to_when_it_was_sent():
    """Links sent before links named their incident: the incident is what fired when the
    link was made, so a later incident is still refused."""
    sent = START.timestamp() + 600
    serializer = LinkSigner("k" * 48, 86400, clock=lambda: sent)._serializer(lambda: sent)
    old = str(serializer.dumps(["carol", "s", "TestBreach", "platform"]))
    target = LinkSigner("k" * 48, 86400, clock=lambda: sent + 60).target(old)
    assert target.started is None and target.signed_at == int(sent)
    assert target.goes_on([am_alert("https://x.example", START)])
    assert not target.goes_on([am_alert("https://x.example", START + dt.timedelta(hours=1))])


@pytest.mark.parametrize("payload", [
    ["carol", "s", "TestBreach"], ["carol", "x", "TestBreach", "platform"],
    ["carol", "s", "TestBreach", "platform", "300"], ["carol", "s", "TestBreach", "platform", True],
    {"member": "carol"}, "carol",
])
def test_a_signed_but_malformed_payload_is_not_a_valid_link(payload):
    signer = LinkSigner("k" * 48, 86400)
    token = str(signer._serializer(signer.clock).dumps(payload))
    with pytest.raises(BadLink, match="not valid"):
        signer.target(token)


def test_an_sms_reply_sees_the_sms_pages_of_the_last_hour_only():
    now = [1_000.0]
    pages = SmsPages(3600, clock=lambda: now[0])
    first = AckTarget("carol", "sms", {"alertname": "A", "team": "platform"}, 900)
    pages.add(first)
    now[0] += 1800
    second = AckTarget("carol", "sms", {"alertname": "B", "team": "platform"}, 2700)
    pages.add(second)
    pages.add(AckTarget("bob", "sms", {"alertname": "C", "team": "platform"}, 2700))
    assert pages.recent("carol") == [second, first]
    now[0] += 1801
    assert pages.recent("carol") == [second]
    now[0] += 1800
    assert pages.recent("carol") == [] and pages.recent("alice") == []


def test_the_ended_page_escapes_the_alertname():
    name = '<script>alert("x")</script>'
    page = ackpage.ended_page(name, START, "UTC").decode()
    assert "<script>" not in page
    assert re.search(r"<h1>&lt;script&gt;alert\(&quot;x&quot;\)&lt;/script&gt;</h1>", page)
