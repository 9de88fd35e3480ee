"""No secret value in any message: every secret-bearing key's value, and URL userinfo,
stay out of the errors a bad config or spec gives; secrets written into the exporter's
config or a chat webhook URL in routing.yaml are refused."""

from __future__ import annotations

import textwrap

import pytest

from pagerkit.cli import main
from pagerkit.errors import UserError
from pagerkit.relay.config import load_relay_config
from tests.unit.bundle.test_bundle import edit, line_of
from tests.unit.relay.test_config import ENV
from tests.unit.relay.test_config import GOOD as GOOD_RELAY

SECRET = "hunter2-4711"

POSTGRES = """\
sources:
  - name: db
    kind: postgres
    dsn: "host=127.0.0.1 dbname=app"
"""
RABBITMQ = """\
sources:
  - name: mq
    kind: rabbitmq
    url: http://127.0.0.1:15672
"""

# (id, config, line, message fragment); SECRET must appear in none of the output.
BAD_EXPORTER_CONFIGS = [
    ("postgres password as a number", POSTGRES + "    password: 123456789\n", 5,
     "sources[0].password must be a string, not a number (not shown here: it is a secret)"),
    ("postgres password written in the file", POSTGRES + f"    password: {SECRET}\n", 5,
     "sources[0].password is written in the file (its value is not shown here); secrets "
     "come only from the environment or a file: write password: ${VAR}"),
    ("postgres password with a literal around a reference",
     POSTGRES + f"    password: {SECRET}${{PW}}\n", 5, "sources[0].password is written in"),
    ("dsn with password=", POSTGRES.replace('dbname=app"', f'dbname=app password={SECRET}"'),
     4, "sources[0].dsn writes password= in the file (its value is not shown here)"),
    ("dsn with a quoted password=",
     POSTGRES.replace('dbname=app"', f"dbname=app password='{SECRET} x'\""), 4,
     "sources[0].dsn writes password= in the file"),
    ("dsn URI with ?password=",
     POSTGRES.replace('"host=127.0.0.1 dbname=app"',
                      f'"postgresql://app@127.0.0.1/app?password={SECRET}"'), 4,
     "sources[0].dsn writes password= in the file"),
    ("dsn as a number", POSTGRES.replace('"host=127.0.0.1 dbname=app"', "123456789"), 4,
     "sources[0].dsn must be a string, not a number (not shown here"),
    ("rabbitmq password as a number", RABBITMQ + "    password: 123456789\n", 5,
     "sources[0].password must be a string, not a number (not shown here"),
    ("rabbitmq password written in the file", RABBITMQ + f"    password: {SECRET}\n", 5,
     "sources[0].password is written in the file"),
    ("rabbitmq url with userinfo",
     RABBITMQ.replace("http://127.0.0.1", f"http://monitor:{SECRET}@127.0.0.1"), 4,
     'sources[0].url is "http://***@127.0.0.1:15672", which is not valid'),
    ("canary url with userinfo and a wrong scheme",
     RABBITMQ + f"    canary:\n      url: http://guest:{SECRET}@127.0.0.1:5672/\n", 6,
     'sources[0].canary.url is "http://***@127.0.0.1:5672/", which is not valid'),
    ("password in a list where a string belongs", POSTGRES + f"    password: [{SECRET}]\n", 5,
     "sources[0].password must be a string, not a list"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), [c[1:] for c in BAD_EXPORTER_CONFIGS],
                         ids=[c[0] for c in BAD_EXPORTER_CONFIGS])
def test_exporter_config_errors_never_show_the_secret(tmp_path, capsys, text, line, fragment):
    path = tmp_path / "pagerkit.yaml"
    path.write_text(text)
    assert main(["check-config", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert f"{path}:{line}: {fragment}" in out.err
    for secret in (SECRET, "123456789"):
        assert secret not in out.out + out.err


@pytest.mark.parametrize("text", [
    POSTGRES + "    password: ${PAGERKIT_TEST_PW}\n",
    POSTGRES + "    password: ${PAGERKIT_TEST_UNSET:-fallback-secret}\n",
    POSTGRES.replace('dbname=app"', 'dbname=app password=${PAGERKIT_TEST_PW}"'),
    POSTGRES.replace('"host=127.0.0.1 dbname=app"', "${PAGERKIT_TEST_DSN}"),
    RABBITMQ + "    password: ${PAGERKIT_TEST_PW}\n",
])
def test_secrets_from_the_environment_are_accepted(tmp_path, capsys, monkeypatch, text):
    monkeypatch.setenv("PAGERKIT_TEST_PW", SECRET)
    monkeypatch.setenv("PAGERKIT_TEST_DSN", f"host=127.0.0.1 password={SECRET}")
    path = tmp_path / "pagerkit.yaml"
    path.write_text(text)
    assert main(["check-config", "--config", str(path)]) == 0
    assert SECRET not in capsys.readouterr().out


# (id, change to the good relay config, the key's line fragment, message fragment)
BAD_RELAY = [
    ("twilio auth_token as a number", ("auth_token: ${TWILIO_AUTH_TOKEN}",
                                       "auth_token: 123456789"), "auth_token:",
     "relay.twilio.auth_token must be a string, not a number (not shown here"),
    ("twilio auth_token and auth_token_file", ("auth_token: ${TWILIO_AUTH_TOKEN}",
                                               f"auth_token: {SECRET}\n"
                                               "    auth_token_file: key"), "twilio:",
     "relay.twilio needs exactly one of auth_token or auth_token_file"),
    ("pushover token and token_file", ("{token_file: pushover_token}",
                                       f"{{token_file: pushover_token, token: {SECRET}}}"),
     "pushover:", "relay.pushover needs exactly one of token or token_file"),
    ("pushover user key as a number", ("pushover_user_key: ualice}",
                                       "pushover_user_key: 123456789}"), "alice:",
     "relay.members.alice.pushover_user_key must be a string, not a number (not shown"),
    ("a phone where a mapping belongs, next to a secret",
     ("alice: {phone: \"+4915100000001\", pushover_user_key: ualice}",
      f"alice: [{SECRET}]"), "alice:", "relay.members.alice must be a mapping, not a list"),
]


@pytest.mark.parametrize(("change", "where", "fragment"), [c[1:] for c in BAD_RELAY],
                         ids=[c[0] for c in BAD_RELAY])
def test_relay_config_errors_never_show_the_secret(tmp_path, change, where, fragment):
    (tmp_path / "key").write_text("k" * 48 + "\n")
    (tmp_path / "pushover_token").write_text("app-token\n")
    (tmp_path / "carol_key").write_text("ucarol\n")
    text = textwrap.dedent(GOOD_RELAY).replace(*change)
    assert text != GOOD_RELAY
    path = tmp_path / "relay.yaml"
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if where in t)
    with pytest.raises(UserError) as caught:
        load_relay_config(str(path), dict(ENV))
    message = str(caught.value)
    assert f"{path}:{line}: {fragment}" in message
    assert SECRET not in message and "123456789" not in message


ROUTING = "alertmanager/routing.yaml"
SLACK_CHAT = """\
    chat:
      slack_channel: "#platform-alerts"
      slack_api_url_file: /etc/alertmanager/secrets/slack_api_url
"""

# (id, chat webhook_url, message fragment)
TOKEN_URLS = [
    ("slack incoming webhook", f"https://hooks.slack.com/services/T0AB/B0CD/{SECRET}x9",
     "is a hooks.slack.com webhook, whose URL is its secret (the URL is not shown here), "
     "and would be written into the checked-in alertmanager.yml; write the URL into a file "
     "that Alertmanager and the relay read, and name it in slack_api_url_file"),
    ("discord webhook", f"https://discord.com/api/webhooks/123/{SECRET}",
     "is a discord.com webhook, whose URL is its secret"),
    ("teams webhook", f"https://acme.webhook.office.com/webhookb2/{SECRET}",
     "is a acme.webhook.office.com webhook"),
    ("userinfo", f"https://bot:{SECRET}@chat.example.com/hook", "carries user:password@"),
    ("query token", f"https://chat.example.com/hook?token={SECRET}",
     "carries a query string, where tokens go"),
    ("token in the path", "https://chat.example.com/hooks/xj4f8q2mzk7n1p9r3t5v",
     "carries a token in its path"),
]


@pytest.mark.parametrize(("url", "fragment"), [c[1:] for c in TOKEN_URLS],
                         ids=[c[0] for c in TOKEN_URLS])
def test_a_chat_webhook_url_carrying_its_token_is_refused(repo, capsys, url, fragment):
    """The URL would be written into the checked-in alertmanager.yml: refused, unquoted."""
    edit(repo / ROUTING, SLACK_CHAT, f"    chat:\n      webhook_url: {url}\n")
    line = line_of(repo / ROUTING, "webhook_url:")
    for argv in (["generate", "--root", str(repo)], ["validate", "--root", str(repo)],
                 ["oncall", "who", "--root", str(repo)]):
        assert main(argv) == 2
        out = capsys.readouterr()
        assert f"{ROUTING}:{line}: teams[0].chat.webhook_url {fragment}" in out.err
        assert SECRET not in out.out + out.err and url not in out.out + out.err
    assert url not in (repo / "alertmanager/alertmanager.yml").read_text()


def test_a_webhook_url_in_a_bad_shape_is_not_quoted(repo, capsys):
    url = f"ftp://hooks.slack.com/services/T0/B0/{SECRET}"
    edit(repo / ROUTING, SLACK_CHAT, f"    chat:\n      webhook_url: {url}\n")
    assert main(["generate", "--check", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert f"{ROUTING}:{line_of(repo / ROUTING, 'webhook_url:')}: teams[0].chat.webhook_url " \
           "is a value not shown here (it is a secret), which is not valid" in err
    assert SECRET not in err


def test_a_plain_chat_webhook_is_generated(repo, capsys):
    """A webhook whose URL holds no secret (the relay's own, a local bridge) is fine."""
    edit(repo / ROUTING, SLACK_CHAT, "    chat:\n      webhook_url: http://127.0.0.1:9632/chat\n")
    assert main(["generate", "--root", str(repo)]) == 0
    assert "url: http://127.0.0.1:9632/chat" in (repo / "alertmanager/alertmanager.yml"
                                                 ).read_text()


def test_a_user_error_scrubs_known_secrets_and_userinfo():
    """The last line of defence: a message built carelessly still prints no secret."""
    from pagerkit.secrets import REDACTOR, Secret

    REDACTOR.add(Secret("known-secret-0815"))
    error = UserError("f.yaml", 3, "failed: known-secret-0815 at amqp://u:p4ss@host/")
    assert str(error) == "f.yaml:3: failed: *** at amqp://***@host/"
    assert error.message == "failed: *** at amqp://***@host/"
