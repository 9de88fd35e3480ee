"""The relays of an HA set: who holds a page, what a peer is told, the HA keys of the
config, and the dead man's switch's decision (once down, once restored), on a given clock."""

from __future__ import annotations

from typing import Any

import pytest

from pagerkit.errors import UserError
from pagerkit.relay.heartbeat import PipelineWatch, down_text, playbook_of
from pagerkit.relay.memory import MINE, Holder, SentPages
from pagerkit.relay.metrics import RelayMetrics
from pagerkit.relay.peers import DUPLICATE, PEER_SENT, SEND, Peers, PeerState, page_key
from tests.unit.relay.test_config import GOOD, load

KEY = page_key(("{}:{alertname=\"X\"}", "alice", "sms", (("fp", "2026-01-01"),)))


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "key").write_text("k" * 48 + "\n")
    (tmp_path / "pushover_token").write_text("app-token\n")
    (tmp_path / "carol_key").write_text("ucarol\n")
    return tmp_path


def test_the_first_to_ask_holds_the_page_and_the_others_hear_who():
    """A peer that asks first may send (None); asking again it still may; another peer
    hears that it is being sent, and everyone hears when it was."""
    sent = SentPages()
    assert sent.answer(KEY, "relay-2") is None
    assert sent.answer(KEY, "relay-2") is None
    assert sent.answer(KEY, "relay-3") == Holder("relay-2", False)
    assert not sent.claim(KEY)
    sent.record(KEY, Holder("relay-2", True))
    assert sent.answer(KEY, "relay-2") == Holder("relay-2", True)


def test_a_page_this_relay_holds_is_sending_then_sent_to_a_peer():
    sent = SentPages()
    assert sent.claim(KEY)
    assert sent.answer(KEY, "relay-2") == Holder(MINE, False)
    sent.record(KEY, Holder(MINE, True))
    assert sent.answer(KEY, "relay-2") == Holder(MINE, True)


def test_without_peers_a_page_is_sent_once(folder):
    _, config = load(folder, GOOD)
    peers = Peers(config.peering, None, SentPages(), RelayMetrics())
    assert peers.claim(KEY) == SEND
    assert peers.claim(KEY) == DUPLICATE
    peers.failed(KEY)
    assert peers.claim(KEY) == SEND


def test_a_page_a_peer_said_it_sent_is_not_sent_again(folder):
    _, config = load(folder, GOOD)
    peers = Peers(config.peering, None, SentPages(), RelayMetrics())
    assert peers.answer({"op": "sent", "key": KEY[1], "from": "relay-2"}) == \
        {"state": "ok", "name": config.peering.name}
    assert peers.claim(KEY) == PEER_SENT


def test_a_peer_that_gave_a_page_up_leaves_it_free(folder):
    _, config = load(folder, GOOD + "  name: relay-1\n")
    peers = Peers(config.peering, None, SentPages(), RelayMetrics())
    ask = {"op": "claim", "key": KEY[1], "from": "relay-2"}
    assert peers.answer(ask) == {"state": "free", "name": "relay-1"}
    assert peers.answer({**ask, "from": "relay-3"}) == \
        {"state": "sending", "name": "relay-1", "holder": "relay-2"}
    peers.answer({**ask, "op": "release"})
    assert peers.answer({**ask, "from": "relay-3"}) == {"state": "free", "name": "relay-1"}


def test_a_dead_peer_never_holds_a_page_back(folder):
    """relay-2 was told it may send, then stopped answering: this relay sends."""
    _, config = load(folder, GOOD + "  name: relay-1\n  peers: [http://127.0.0.1:9]\n"
                                    "  peer_timeout: 200ms\n")
    peers = Peers(config.peering, None, SentPages(), RelayMetrics())
    peers.answer({"op": "claim", "key": KEY[1], "from": "relay-2"})
    assert peers.claim(KEY) == SEND


def test_a_relay_learns_what_its_peer_sent_when_it_starts_or_the_peer_comes_back(
        folder, monkeypatch):
    """relay-2 sent one page itself and heard that relay-1 sent another, while relay-1 was
    down; relay-1, started again, holds both as sent once relay-2 answers its poll, and asks
    again only after relay-2 stopped answering and came back. A page relay-2 is only
    sending stays free to relay-1."""
    other, sending = page_key(("b", "alice", "sms", ())), page_key(("c", "alice", "sms", ()))
    _, config = load(folder, GOOD + "  name: relay-2\n")
    peer = Peers(config.peering, None, SentPages(), RelayMetrics())
    assert peer.claim(KEY) == SEND
    peer.sent_ok(KEY)
    peer.answer({"op": "sent", "key": other[1], "from": "relay-1"})
    assert peer.claim(sending) == SEND
    _, config = load(folder, GOOD + "  name: relay-1\n  peers: [http://relay-2.test:9632]\n")
    me = Peers(config.peering, None, SentPages(), RelayMetrics())
    up, asked = [True], []
    monkeypatch.setattr(me, "_state_of", lambda url: PeerState(url, True, 0.0, "relay-2")
                        if up[0] else None)
    monkeypatch.setattr(me, "_post", lambda url, body: asked.append(body["op"])
                        or peer.answer(body))
    me.poll()
    assert asked == ["pages"]
    assert me.sent.holder(KEY) == Holder("relay-2", True)
    assert me.sent.holder(other) == Holder(MINE, True)
    assert me.sent.holder(sending) is None
    me.poll()
    up[0] = False
    me.poll()
    up[0] = True
    me.poll()
    assert asked == ["pages", "pages"]


def test_an_unknown_op_claims_nothing(folder):
    _, config = load(folder, GOOD + "  name: relay-1\n")
    peers = Peers(config.peering, None, SentPages(), RelayMetrics())
    assert "error" in peers.answer({"op": "sned", "key": KEY[1], "from": "relay-2"})
    assert peers.sent.holder(KEY) is None


@pytest.mark.parametrize(("extra", "line", "fragment"), [
    ("  peer_interval: 10s\n  heartbeat_deadline: 20s\n", 16,
     "relay.heartbeat_deadline 20s is less than three peer_interval (10s)"),
    ("  peer_interval: 1s\n  peer_timeout: 1s\n", 16,
     "relay.peer_timeout 1s is not shorter than peer_interval (1s)"),
    ("  peers: [relay-2:9632]\n", 15, "relay-2:9632"),
    ("  name: two words\n", 15, "two words"),
    ("  heartbeat_url_file: key\n", 15, "does not hold an http:// or https:// URL"),
])
def test_bad_ha_keys_name_the_line_and_the_fix(folder, extra, line, fragment):
    with pytest.raises(UserError) as caught:
        load(folder, GOOD + extra)
    assert caught.value.line == line
    assert fragment in str(caught.value)
    assert "k" * 48 not in str(caught.value)  # the file's content is never told


class Phone:
    """What the provider got: (kind, to, text)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, str]] = []

    def sms(self, to: str, body: str) -> str:
        self.got.append(("sms", to, body))
        return "SM1"

    def push(self, user: Any, fields: dict[str, str]) -> str:
        self.got.append(("push", user.reveal(), fields["message"]))
        return "p1"


def test_no_heartbeat_for_the_deadline_pages_once_and_restored_once(folder):
    _, config = load(folder, GOOD + "  heartbeat_deadline: 5m\n")
    now = [1_800_000_000.0]
    phone, said = Phone(), []
    metrics = RelayMetrics()
    peers = Peers(config.peering, None, SentPages(), metrics, lambda: now[0])
    watch = PipelineWatch(config, peers, metrics, phone, phone,  # type: ignore[arg-type]
                          lambda team, text: said.append(text), lambda: now[0])
    watch.heard("https://example.com/monitoring.md#watchdog")
    now[0] += 299
    watch.tick()
    assert phone.got == [] and said == []
    now[0] += 2
    watch.tick()
    now[0] += 60
    watch.tick()
    assert [(kind, to) for kind, to, _ in phone.got] == [("sms", "+12125550002"),
                                                          ("push", "ubob")]
    assert phone.got[1][2].startswith("the alerting pipeline is down: no heartbeat from "
                                      "Alertmanager since 03:00 EST.")
    assert phone.got[0][2].endswith("Playbook: https://example.com/monitoring.md#watchdog")
    assert len(said) == 1 and said[0].startswith("The alerting pipeline is down")
    assert metrics.pipeline_down._value.get() == 1
    watch.heard(None)
    watch.tick()
    watch.tick()
    assert len(phone.got) == 4 and "alerting restored" in phone.got[2][2]
    assert len(said) == 2 and said[1].startswith("Alerting restored")


def test_the_page_says_since_when_in_the_members_zone():
    text = down_text(1_800_000_000.0, "Pacific/Auckland", None)
    assert "no heartbeat from Alertmanager since 21:00 NZDT." in text


@pytest.mark.parametrize(("body", "book"), [
    (b'{"alerts": [{"annotations": {"runbook_url": "https://x.example/m.md#watchdog"}}]}',
     "https://x.example/m.md#watchdog"),
    (b'{"alerts": [{"annotations": {"runbook_url": "javascript:alert(1)"}}]}', None),
    (b"not json", None),
    (b'{"alerts": []}', None),
])
def test_the_playbook_comes_from_the_watchdog_and_only_as_a_web_address(body, book):
    assert playbook_of(body) == book
