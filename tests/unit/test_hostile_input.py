"""Hostile and careless input in every kind of file pagerkit reads: alias bombs, deep
nesting, bytes that are not UTF-8 and folders where files belong are each refused with
the file (and line) and exit 2, quickly, in bounded memory, never with a traceback."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pagerkit.cli import _routing_alertmanager_url, main
from tests.conftest import ROOT
from tests.unit.relay.test_config import GOOD as GOOD_RELAY

GOOD_CONFIG = """\
sources:
  - name: db
    kind: postgres
    dsn: "host=127.0.0.1 dbname=app"
"""


def list_bomb() -> str:
    """The issue's 400-byte "billion laughs": nine levels of nine aliases each."""
    lines = ["lol_a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"lol_{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def map_bomb() -> str:
    lines = ["map_a: &a {" + ", ".join(f"k{i}: x" for i in range(9)) + "}"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"map_{name}: &{name} {{" + ", ".join(f"k{i}: *{prev}" for i in range(9))
                     + "}")
    return "\n".join(lines) + "\n"


def block_bomb() -> str:
    lines = ["blk_a: &a"] + ["  - x"] * 9
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines += [f"blk_{name}: &{name}"] + [f"  - *{prev}"] * 9
    return "\n".join(lines) + "\n"


def merge_key() -> str:
    return "base: &base {a: 1, b: 2}\nderived:\n  <<: *base\n  c: 3\n"


def scalar_alias() -> str:
    return "first: &v 5m\nsecond: *v\n"


SHAPES = {"nested lists": list_bomb, "nested maps": map_bomb, "block lists": block_bomb,
          "merge key": merge_key, "scalar alias": scalar_alias}

# kind -> (file to spoil, the name errors give it, the command that reads it), from a
# folder holding a copy of the repository's specs (the ``repo`` fixture).
Kind = Callable[[Path], tuple[Path, str, list[str]]]


def exporter_config(root: Path) -> tuple[Path, str, list[str]]:
    path = root / "pagerkit.yaml"
    path.write_text(GOOD_CONFIG)
    return path, str(path), ["check-config", "--config", str(path)]


def web_config(root: Path) -> tuple[Path, str, list[str]]:
    (root / "pagerkit.yaml").write_text(GOOD_CONFIG + "web:\n  config_file: web.yml\n")
    path = root / "web.yml"
    path.write_text("http_server_config: {}\n")
    return path, str(path), ["check-config", "--config", str(root / "pagerkit.yaml")]


def routing_file_of_config(root: Path) -> tuple[Path, str, list[str]]:
    (root / "pagerkit.yaml").write_text(GOOD_CONFIG + "oncall:\n  routing_file: routing.yaml\n")
    path = root / "routing.yaml"
    path.write_text((ROOT / "alertmanager/routing.yaml").read_text())
    return path, str(path), ["check-config", "--config", str(root / "pagerkit.yaml")]


def spec(rel: str) -> Kind:
    def kind(root: Path) -> tuple[Path, str, list[str]]:
        return root / rel, rel, ["generate", "--check", "--root", str(root)]
    return kind


def relay_config(root: Path) -> tuple[Path, str, list[str]]:
    path = root / "relay.yaml"
    path.write_text(GOOD_RELAY)
    return path, str(path), ["relay", "--config", str(path)]


KINDS: dict[str, Kind] = {
    "exporter config": exporter_config,
    "web config": web_config,
    "routing file of the config": routing_file_of_config,
    "alert spec": spec("rules/alerts.yaml"),
    "overrides": spec("rules/overrides/demo.yaml"),
    "routing spec": spec("alertmanager/routing.yaml"),
    "dashboard spec": spec("grafana/overview.yaml"),
    "relay config": relay_config,
}


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_aliases_are_refused_at_their_line(repo, capsys, kind, shape):
    """An alias anywhere (a bomb of lists or maps, a merge key, one scalar) is refused at
    the line of the first alias, before anything walks the document."""
    path, name, argv = KINDS[kind](repo)
    base, added = path.read_text().rstrip("\n") + "\n", SHAPES[shape]()
    path.write_text(base + added)
    line = base.count("\n") + next(i for i, t in enumerate(added.splitlines(), 1)
                                   if re.search(r"\*[a-z]", t))
    started = time.monotonic()
    code, output = run(capsys, argv)
    assert time.monotonic() - started < 5
    assert code == 2
    assert f"{name}:{line}: YAML aliases (*" in output
    assert "Traceback" not in output


def test_the_alias_inside_a_real_spec_position_is_refused_too(repo, capsys):
    """An anchor reused where a person might (an alert's labels) is refused like a bomb."""
    path = repo / "rules/alerts.yaml"
    text = path.read_text().replace("        for: 5m\n",
                                    "        for: &five 5m\n", 1).replace(
        "        for: 3m\n", "        for: *five\n", 1)
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "*five" in t)
    code, output = run(capsys, ["validate", "--root", str(repo)])
    assert code == 2
    assert f"rules/alerts.yaml:{line}: YAML aliases (*five) are not supported" in output


def test_the_issue_bomb_stays_within_a_small_memory_limit(tmp_path):
    """`pagerkit check-config` on the 400-byte bomb, in a process allowed 1 GiB of address
    space: it exits 2 at once instead of growing past 2 GB until killed."""
    path = tmp_path / "bomb.yaml"
    path.write_text(list_bomb())
    assert len(list_bomb()) < 450

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pagerkit", "check-config", "--config",
                           str(path)], capture_output=True, text=True, timeout=60,
                          preexec_fn=limit, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "exporter")})
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stderr
    assert f"{path}:2: YAML aliases (*a) are not supported" in done.stderr


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("sources: " + "[" * 2000 + "]" * 2000 + "\n", 1, "exceeded maximum nesting depth"),
    ("".join("  " * i + f"k{i}:\n" for i in range(1500)), 1000,
     "exceeded maximum nesting depth"),
])
def test_deep_nesting_is_refused(tmp_path, capsys, text, line, fragment):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    code, output = run(capsys, ["check-config", "--config", str(path)])
    assert code == 2
    assert f"{path}:{line}: invalid YAML: {fragment}" in output


def test_ack_reads_alertmanager_url_leniently_and_safely(tmp_path):
    """`pagerkit ack` takes alertmanager_url from a routing spec that is otherwise broken,
    and ignores one that has aliases, without expanding them."""
    folder = tmp_path / "alertmanager"
    folder.mkdir()
    path = folder / "routing.yaml"
    path.write_text("alertmanager_url: http://am:9093\nteams: not-a-list\n")
    assert _routing_alertmanager_url(tmp_path) == "http://am:9093"
    path.write_text("alertmanager_url: http://am:9093\n" + list_bomb())
    started = time.monotonic()
    assert _routing_alertmanager_url(tmp_path) is None
    assert time.monotonic() - started < 1
    path.write_bytes(b"alertmanager_url: http://am:9093\n\xff\n")
    assert _routing_alertmanager_url(tmp_path) is None
    path.unlink()
    path.mkdir()
    assert _routing_alertmanager_url(tmp_path) is None


NOT_UTF8 = b"# \xe9t\xe9 in Latin-1\n"


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_is_not_utf8_names_the_line(repo, capsys, kind):
    path, name, argv = KINDS[kind](repo)
    text = path.read_bytes()
    path.write_bytes(text + NOT_UTF8)
    line = text.count(b"\n") + 1
    code, output = run(capsys, argv)
    assert code == 2
    assert f"{name}:{line}: the file is not UTF-8 text (byte 0xe9" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("kind", KINDS)
def test_a_folder_where_a_file_belongs(repo, capsys, kind):
    path, name, argv = KINDS[kind](repo)
    path.unlink()
    path.mkdir()
    code, output = run(capsys, argv)
    assert code == 2
    assert f"{name}: is a folder, not a file" in output


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "is a folder; name the file that holds the secret"),
    (b"\xffsecret\n", "is not UTF-8 text"),
])
def test_a_secret_file_that_is_a_folder_or_not_utf8(tmp_path, capsys, content, fragment):
    secret = tmp_path / "pw"
    if content is None:
        secret.mkdir()
    else:
        secret.write_bytes(content)
    path = tmp_path / "pagerkit.yaml"
    path.write_text(GOOD_CONFIG + "    password_file: pw\n")
    code, output = run(capsys, ["check-config", "--config", str(path)])
    assert code == 2
    assert f"{path}:5: sources[0].password_file: {secret} {fragment}" in output


@pytest.mark.parametrize("name", ["jobs.md", "README.md"])
def test_a_playbook_that_is_not_utf8(repo, capsys, name):
    path = repo / "playbooks" / name
    text = path.read_bytes()
    path.write_bytes(text.replace(b"\n", b"\n\xe9\n", 1))
    for fmt in ("text", "json"):
        code, output = run(capsys, ["validate", "--root", str(repo), "--format", fmt])
        assert code == 2
        assert f"playbooks/{name}:2: the file is not UTF-8 text" in output


def test_a_playbook_folder_named_like_a_file(repo, capsys):
    (repo / "playbooks" / "x.md").mkdir()
    code, output = run(capsys, ["validate", "--root", str(repo)])
    assert code == 2
    assert "playbooks/x.md: is a folder, not a file" in output


def test_playbook_new_on_a_file_that_is_not_utf8(repo, capsys):
    (repo / "playbooks/jobs.md").write_bytes(b"# Jobs\n\xff\n")
    code, output = run(capsys, ["playbook", "new", "JobsWaitingTooLong", "--root", str(repo)])
    assert code == 2
    assert "playbooks/jobs.md:2: the file is not UTF-8 text" in output


def test_a_generated_file_that_is_a_folder_or_not_utf8(repo, capsys):
    """A folder where a generated file goes is refused; bytes that are not UTF-8 are
    stale, and `generate` writes the file again."""
    rules = repo / "rules/generated/jobs.rules.yml"
    rules.write_bytes(rules.read_bytes() + b"\xff\n")
    code, output = run(capsys, ["generate", "--check", "--root", str(repo)])
    assert code == 1
    assert "rules/generated/jobs.rules.yml: stale: differs from what the spec generates" \
        in output
    assert run(capsys, ["generate", "--root", str(repo)])[0] == 0
    assert run(capsys, ["validate", "--root", str(repo)])[0] == 0
    rules.unlink()
    rules.mkdir()
    code, output = run(capsys, ["generate", "--root", str(repo)])
    assert code == 2
    assert "rules/generated/jobs.rules.yml: is a folder where `pagerkit generate` writes" \
        in output
