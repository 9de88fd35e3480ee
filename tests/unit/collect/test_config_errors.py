"""Bad configs: each exits 2 before anything runs, naming the file, the line and the fix."""

from __future__ import annotations

import pytest

from pagerkit.cli import main
from tests.harness.support import write_config

GOOD_SOURCE = """\
sources:
  - name: db
    kind: postgres
    dsn: "host=127.0.0.1 dbname=app"
"""

RABBIT_SOURCE = """\
sources:
  - name: mq
    kind: rabbitmq
    url: http://127.0.0.1:15672
"""

BAD_CONFIGS = [
    ("unknown top-level key",
     GOOD_SOURCE + "extra: 1\n", 5, "unknown key 'extra' in the top level"),
    ("unknown source key",
     GOOD_SOURCE + "    timout: 5s\n", 5, "unknown key 'timout' in sources[0]"),
    ("missing dsn",
     "sources:\n  - name: db\n    kind: postgres\n", 2, "missing the required key 'dsn'"),
    ("missing sources", "log:\n  level: info\n", 1, "missing the required key 'sources'"),
    ("wrong type for timeout",
     GOOD_SOURCE + "    timeout: 5\n", 5, "sources[0].timeout must be a string, not the number 5"),
    ("bad duration",
     GOOD_SOURCE + "    timeout: 5 seconds\n", 5, "write a duration such as 500ms, 30s"),
    ("unknown kind",
     "sources:\n  - name: db\n    kind: mysql\n", 3, "unknown source kind 'mysql'"),
    ("duplicate key",
     GOOD_SOURCE + "    dsn: other\n", 5, "duplicate key 'dsn' (first defined on line 4)"),
    ("duplicate source name",
     GOOD_SOURCE + "  - name: db\n    kind: postgres\n    dsn: x=y\n", 5,
     "source name 'db' is already used on line 2"),
    ("bad log level", GOOD_SOURCE + "log:\n  level: loud\n", 6,
     'log.level is "loud"; it must be one of "debug", "info"'),
    ("invalid YAML", "sources: [\n  - name: db\n", 2, "invalid YAML"),
    ("counter without _total", GOOD_SOURCE + """\
    queries:
      - name: q
        sql: SELECT 1 AS n
        metrics:
          - {name: jobs_done, type: counter, value: n, help: Done.}
""", 9, "counter 'jobs_done' must end in _total"),
    ("reserved metric prefix", GOOD_SOURCE + """\
    queries:
      - name: q
        sql: SELECT 1 AS n
        metrics:
          - {name: pagerkit_jobs, type: gauge, value: n, help: Jobs.}
""", 9, "starts with 'pagerkit_'"),
    ("query without metrics", GOOD_SOURCE + """\
    queries:
      - name: q
        sql: SELECT 1 AS n
""", 6, "queries[0] is missing the required key 'metrics'"),
    ("password and password_file", GOOD_SOURCE + """\
    password: x
    password_file: /nonexistent
""", 2, "sets both password and password_file"),
    ("listen port out of range", GOOD_SOURCE + "web:\n  listen_address: ':99999'\n", 6,
     "port 99999 is not between 1 and 65535"),
    ("listen address without a port",
     GOOD_SOURCE + "web:\n  listen_address: localhost\n", 6, "web.listen_address"),
    ("dsn that is not a connection string",
     GOOD_SOURCE.replace('"host=127.0.0.1 dbname=app"', "'nonsense with no equals'"), 4,
     "dsn is not a libpq connection string"),
    ("an empty file", "", 1, "missing the required key 'sources'"),
    ("rabbitmq url with a password in it", RABBIT_SOURCE.replace(
        "http://127.0.0.1:15672", "http://guest:guest@127.0.0.1:15672"), 4,
     "without user:password@ (use username and password)"),
    ("rabbitmq bad queue pattern", RABBIT_SOURCE + "    queues:\n      include: ['(unclosed']\n",
     6, "queues.include[0] is not a valid regular expression"),
    ("canary url that is not AMQP", RABBIT_SOURCE + "    canary:\n      url: http://x\n", 6,
     "sources[0].canary.url"),
    ("canary without url", RABBIT_SOURCE + "    canary:\n      timeout: 2s\n", 5,
     "sources[0].canary is missing the required key 'url'"),
    ("rabbitmq client cert without key", RABBIT_SOURCE + "    tls_config:\n"
     "      cert_file: client.pem\n", 5, "tls_config needs both cert_file and key_file"),
    ("per_queue not a boolean", RABBIT_SOURCE + "    queues:\n      per_queue: yes please\n",
     6, "sources[0].queues.per_queue must be true or false"),
]


@pytest.mark.parametrize(("text", "line", "fragment"),
                         [case[1:] for case in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_exits_2_with_file_and_line(tmp_path, capsys, text, line, fragment):
    path = write_config(tmp_path, "placeholder")
    path.write_text(text)
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: " in err
    assert fragment in err
    assert "Traceback" not in err


def test_missing_file(tmp_path, capsys):
    assert main(["check-config", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert f"{tmp_path / 'nope.yaml'}: cannot read the file" in capsys.readouterr().err


def test_missing_secret_names_the_key_and_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PAGERKIT_TEST_UNSET", raising=False)
    path = write_config(tmp_path, GOOD_SOURCE + "    password: ${PAGERKIT_TEST_UNSET}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5: sources[0].password refers to the environment variable " \
           "PAGERKIT_TEST_UNSET, which is not set" in err


def test_unreadable_secret_file_names_the_key_not_the_value(tmp_path, capsys):
    path = write_config(tmp_path, GOOD_SOURCE + "    password_file: missing.txt\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5: sources[0].password_file: cannot read" in err


def test_secret_values_never_appear_in_errors(tmp_path, capsys, monkeypatch):
    """A DSN holding a password that fails to parse is reported without it."""
    monkeypatch.setenv("PAGERKIT_TEST_DSN", "postgresql://u:hunter2-secret@[bad")
    path = write_config(tmp_path, GOOD_SOURCE.replace('"host=127.0.0.1 dbname=app"',
                                                      "${PAGERKIT_TEST_DSN}"))
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert f"{path}:4: dsn is not a libpq connection string" in err


def test_good_config_passes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PAGERKIT_TEST_PW", "hunter2-secret")
    (tmp_path / "pw").write_text("file-secret\n")
    path = write_config(tmp_path, GOOD_SOURCE + "    password: ${PAGERKIT_TEST_PW}\n"
                                                "  - name: db2\n    kind: postgres\n"
                                                "    dsn: host=x\n    password_file: pw\n")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ok, 2 source(s): db (postgres), db2 (postgres)" in out
    assert "hunter2" not in out and "file-secret" not in out


def test_example_config_is_valid(capsys):
    from tests.conftest import ROOT

    assert main(["check-config", "--config", str(ROOT / "examples" / "pagerkit.yaml")]) == 0
