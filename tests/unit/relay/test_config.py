"""The relay's config: a good one loads; each bad one names the file, the line and the fix."""

from __future__ import annotations

import textwrap

import pytest

from pagerkit.errors import UserError
from pagerkit.relay.config import load_relay_config
from tests.conftest import ROOT

GOOD = f"""\
relay:
  public_url: https://pager.example.com
  routing_file: {ROOT / "alertmanager" / "routing.yaml"}
  alertmanagers: [http://am-1:9093, http://am-2:9093]
  signing_key_file: key
  twilio:
    account_sid: AC0123
    auth_token: ${{TWILIO_AUTH_TOKEN}}
    from_number: "+15005550006"
  pushover: {{token_file: pushover_token}}
  members:
    alice: {{phone: "+4915100000001", pushover_user_key: ualice}}
    bob: {{phone: "+12125550002", pushover_user_key: ubob}}
    carol: {{phone: "+64211234567", pushover_user_key_file: carol_key}}
"""
ENV = {"TWILIO_AUTH_TOKEN": "token-from-the-environment"}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "key").write_text("k" * 48 + "\n")
    (tmp_path / "pushover_token").write_text("app-token\n")
    (tmp_path / "carol_key").write_text("ucarol\n")
    return tmp_path


def load(folder, text, env=ENV):  # type: ignore[no-untyped-def]
    path = folder / "relay.yaml"
    path.write_text(textwrap.dedent(text))
    return path, load_relay_config(str(path), dict(env))


def test_a_good_config_resolves_its_secrets_from_files_and_the_environment(folder):
    _, config = load(folder, GOOD)
    assert config.alertmanagers == ("http://am-1:9093", "http://am-2:9093")
    assert config.twilio is not None and config.twilio.auth_token.reveal() == ENV[
        "TWILIO_AUTH_TOKEN"]
    assert str(config.twilio.auth_token) == "***"
    assert config.contacts["carol"].pushover_user_key is not None
    assert config.contacts["carol"].pushover_user_key.reveal() == "ucarol"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 9632)
    assert (config.link_ttl, config.expire_interval, config.sms_max_chars) == (86400, 0.5, 320)


@pytest.mark.parametrize(("change", "line", "fragment"), [
    (lambda t: t.replace("relay:", "relais:"), 1, "has no relay section; add one"),
    (lambda t: t.replace('"+12125550002"', '"212 555 0002"'), 13,
     "relay.members.bob.phone is \"212 555 0002\", which is not valid"),
    (lambda t: t.replace('    carol: {phone: "+64211234567", pushover_user_key_file: carol_key}\n',
                         ""), 11, "relay.members has no entry for carol"),
    (lambda t: t.replace('carol: {phone: "+64211234567", ', "carol: {"), 14,
     "carol is paged by sms but has no phone; add phone: +<country code><number>"),
    (lambda t: t.replace("  pushover: {token_file: pushover_token}\n", ""), 11,
     "alice is paged by push but the relay has no pushover section"),
    (lambda t: t.replace("signing_key_file: key", "signing_key_file: short"), 5,
     "holds fewer than 32 bytes"),
    (lambda t: t.replace("signing_key_file: key", "signing_key_file: missing"), 5,
     "cannot read"),
    (lambda t: t + "  expire_interval: 1m\n", 15,
     "relay.expire_interval 1m is more than a tenth of the group_interval of the critical "
     "routes (5s"),
    (lambda t: t.replace("auth_token: ${TWILIO_AUTH_TOKEN}", "auth_token: ${TWILIO_TOKEN}"),
     8, "refers to the environment variable TWILIO_TOKEN, which is not set"),
])
def test_a_bad_config_names_the_line_and_the_fix(folder, change, line, fragment):
    (folder / "short").write_text("too short")
    with pytest.raises(UserError) as caught:
        load(folder, change(GOOD))
    message = str(caught.value)
    assert f"relay.yaml:{line}:" in message, message
    assert fragment in message, message


def test_the_example_loads_once_its_secrets_exist(tmp_path):
    for name in ("relay-signing-key", "relay-password", "twilio-auth-token",
                 "pushover-app-token"):
        (tmp_path / name).write_text("s" * 48 + "\n")
    text = (ROOT / "examples" / "relay.yaml").read_text()
    text = text.replace("/etc/pagerkit/", f"{tmp_path}/").replace(
        "../alertmanager/routing.yaml", str(ROOT / "alertmanager" / "routing.yaml"))
    env = {"TWILIO_ACCOUNT_SID": "AC0123", **{f"PUSHOVER_USER_{n}": f"u{n}"
                                              for n in ("ALICE", "BOB", "CAROL")}}
    _, config = load(tmp_path, text, env)
    assert config.twilio is not None and config.twilio.account_sid == "AC0123"
    assert config.public_url == "https://pager.example.com"


def test_basic_auth_users_in_the_web_config_are_refused(folder):
    (folder / "web.yml").write_text("basic_auth_users:\n  prometheus: "
                                    "'$2b$10$2Ybq5NPIsW8ZaD9xfb2bJO9Tw6Tn8e2QmQnm5JGiJ2dVH3O8G9iZe'\n")
    with pytest.raises(UserError, match=r"relay.yaml:\d+: .*web.yml has basic_auth_users, "
                                        r"which the relay does not use"):
        load(folder, GOOD + "  web_config_file: web.yml\n")
