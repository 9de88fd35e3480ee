"""The relay's pure parts: the webhook in, the texts out, the signed links, the duplicate
filter."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pagerkit.relay.app import SentPages
from pagerkit.relay.links import AckTarget, BadLink, LinkSigner
from pagerkit.relay.texts import (
    BadNotification,
    chat_ack_text,
    parse_notification,
    sms_text,
    voice_twiml,
)
from tests.harness.relay import alert, webhook

LINK = "https://pager.example.com/a/" + "x" * 90
BOOK = "https://github.com/acme/platform/blob/main/playbooks/jobs.md#jobswaitingtoolong"


def notification(summary: str = "Jobs wait too long for a worker.", count: int = 1,
                 tier: str = "2"):  # type: ignore[no-untyped-def]
    alerts = [alert(tier=tier, queue=f"jobs.env-0{i}") for i in range(count)]
    for a in alerts:
        a["annotations"]["summary"] = summary
        a["annotations"]["runbook_url"] = BOOK
    return parse_notification(json.dumps(webhook(alerts)).encode(), "platform", "carol", "sms")


def test_an_sms_keeps_both_links_whole_and_cuts_the_summary():
    n = notification("The oldest job in jobs.env-03 has waited " + "very " * 80 + "long.")
    text = sms_text(n, LINK, 320)
    assert 315 <= len(text) <= 320  # a space before the cut is dropped
    assert text.endswith(f"\nAck: {LINK}\nPlaybook: {BOOK}")
    head = text.split("\n")[0]
    assert head.startswith("PAGE platform tier 2: The oldest job") and head.endswith("...")


def test_a_short_sms_is_not_cut_and_counts_the_other_alerts():
    text = sms_text(notification(count=3), LINK, 320)
    assert text.split("\n")[0] == "PAGE platform tier 2: Jobs wait too long for a worker. " \
                                  "(+2 more)"


def test_an_sms_too_small_for_its_links_still_carries_them():
    text = sms_text(notification(), LINK, 160)
    assert f"Ack: {LINK}" in text and f"Playbook: {BOOK}" in text


def test_the_call_asks_for_a_key_press_and_says_when_nothing_was_acknowledged():
    twiml = voice_twiml(notification(), "https://pager.example.com/twilio/voice?t=abc")
    assert twiml.count("Press 1 to acknowledge.") == 2
    assert '<Gather action="https://pager.example.com/twilio/voice?t=abc" method="POST" ' \
           'numDigits="1"' in twiml
    assert twiml.endswith("<Say>Nothing was pressed. The page is not acknowledged. Goodbye."
                          "</Say></Response>")


@pytest.mark.parametrize(("body", "fragment"), [
    (b"{", "the body is not JSON"),
    (json.dumps({"version": "3"}).encode(), "not an Alertmanager version 4 webhook"),
    (json.dumps({**webhook([alert()]), "alerts": []}).encode(), "alerts"),
    (json.dumps({**webhook([alert()]), "groupLabels": {"a": 1}}).encode(), "groupLabels/a"),
    (json.dumps(webhook([{**alert(), "startsAt": "yesterday at noon, roughly"}])).encode(),
     "is not a time"),
])
def test_malformed_webhooks_are_refused(body, fragment):
    with pytest.raises(BadNotification, match=fragment):
        parse_notification(body, "platform", "carol", "sms")


def test_the_acknowledgement_matches_every_tier():
    assert notification(tier="3").ack_labels == {"alertname": "TestBreach", "team": "platform"}


def test_retries_share_a_key_and_a_new_firing_does_not():
    first = notification()
    again = notification()
    assert first.dedup_key() == again.dedup_key()
    later = webhook([alert(tier="2", starts=dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC))])
    other = parse_notification(json.dumps(later).encode(), "platform", "carol", "sms")
    assert other.dedup_key() != first.dedup_key()


def test_a_link_names_the_member_and_group_and_refuses_forgery_and_age():
    now = [1_800_000_000.0]
    signer = LinkSigner("k" * 40, 3600, clock=lambda: now[0])
    target = AckTarget("carol", "sms", {"alertname": "JobsWaitingTooLong", "team": "platform"})
    token = signer.token(target)
    assert signer.target(token) == target
    assert len(token) < 110
    with pytest.raises(BadLink, match="not valid"):
        signer.target(token[:-2] + ("aa" if token[-2:] != "aa" else "bb"))
    with pytest.raises(BadLink, match="not valid"):
        LinkSigner("another key" * 4, 3600).target(token)
    now[0] += 3601
    with pytest.raises(BadLink, match="expired"):
        signer.target(token)


def test_the_duplicate_filter_releases_a_failed_send_and_forgets_old_pages():
    now = [0.0]
    sent = SentPages(ttl=60, size=3, clock=lambda: now[0])
    assert sent.claim(("a",)) and not sent.claim(("a",))
    sent.release(("a",))
    assert sent.claim(("a",))
    now[0] = 61
    assert sent.claim(("a",))
    for key in ("b", "c", "d"):
        assert sent.claim((key,))
    assert sent.claim(("a",))  # pushed out by the size bound


def test_the_chat_hears_who_acknowledged_in_their_own_time():
    at = dt.datetime(2026, 12, 24, 14, 12, tzinfo=dt.UTC)
    text = chat_ack_text("carol", {"alertname": "JobsWaitingTooLong", "team": "platform"},
                         "sms link", at, at + dt.timedelta(minutes=30), "Pacific/Auckland")
    assert text == ("carol acknowledged JobsWaitingTooLong (team platform) by sms link at "
                    "03:12 NZDT (14:12 UTC), until 03:42 NZDT: the later tiers will not page")
