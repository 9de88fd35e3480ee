"""The exporter serves the playbooks where every alert's runbook_url points."""

from __future__ import annotations

import re
import urllib.parse

import pytest
import requests
import yaml

from tests.conftest import ROOT, free_port
from tests.harness.browser import chromium, click_through
from tests.harness.exporter_process import ExporterProcess
from tests.harness.support import write_config

pytestmark = pytest.mark.integration


def runbook_urls() -> set[str]:
    urls = set()
    for path in (ROOT / "rules" / "generated").glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            urls.update(rule["annotations"]["runbook_url"] for rule in group["rules"])
    return urls


@pytest.fixture
def exporter(tmp_path, pg_dsn):
    port = free_port()
    config = write_config(tmp_path, f"""
web:
  listen_address: "127.0.0.1:{port}"
  playbooks_dir: {ROOT / "playbooks"}
sources:
  - name: db
    kind: postgres
    dsn: "{pg_dsn}"
""")
    proc = ExporterProcess(config, port)
    yield f"http://127.0.0.1:{port}"
    assert proc.stop() == 0


def local(url: str, base: str) -> str:
    """The runbook_url, served by this test's exporter instead of localhost:9630."""
    parts = urllib.parse.urlsplit(url)
    return f"{base}{parts.path}#{parts.fragment}"


def test_every_runbook_url_is_served_with_its_anchor(exporter):
    from pagerkit.bundle.alerts import load_spec

    urls = runbook_urls()
    assert len(urls) == len(load_spec(ROOT).alerts)
    for url in sorted(urls):
        page, _, anchor = local(url, exporter).partition("#")
        response = requests.get(page, timeout=5)
        assert response.status_code == 200, url
        assert response.headers["Content-Type"].startswith("text/html")
        assert f'<h2 id="{anchor}">' in response.text, url


def test_unknown_and_sneaky_paths_are_404(exporter):
    for path in ("/playbooks/nope.md", "/playbooks/../README.md", "/playbooks/%2e%2e/x.md",
                 "/playbooks/README", "/playbooks/jobs.md/x"):
        assert requests.get(exporter + path, timeout=5).status_code == 404, path
    index = requests.get(exporter + "/playbooks/", timeout=5)
    assert index.status_code == 200 and 'href="jobs.md"' in index.text
    moved = requests.get(exporter + "/playbooks", timeout=5, allow_redirects=False)
    assert (moved.status_code, moved.headers["Location"]) == (301, "/playbooks/")


def test_a_runbook_link_opens_at_its_section_in_a_browser(exporter):
    """Chromium opens the link from a page: the alert's section is the target, on screen,
    with its four subsections below it."""
    url = local(next(u for u in runbook_urls() if u.endswith("#queuewithoutconsumers")),
                exporter)
    with chromium() as browser:
        browser.get(url)
        target = browser.execute_script("""
            const t = document.querySelector(':target');
            const r = t.getBoundingClientRect();
            return {text: t.textContent, tag: t.tagName, top: r.top, height: innerHeight};
        """)
        assert target["tag"] == "H2"
        assert target["text"] == "QueueWithoutConsumers"
        assert 0 <= target["top"] < target["height"] / 2
        following = browser.execute_script("""
            const out = []; let n = document.querySelector(':target').nextElementSibling;
            while (n && n.tagName !== 'H2') { if (n.tagName === 'H3') out.push(n.textContent);
                                              n = n.nextElementSibling; }
            return out;
        """)
        assert following == ["Impact", "Diagnose", "Mitigate", "Escalate"]
        click_through(browser, browser.find_element("link text", "all playbooks"))
        assert browser.find_element("tag name", "h1").text == "Playbooks"


SECRET = "pk-environ-secret-4b1f"
OUTSIDE = "OUTSIDE-THE-FOLDER-7c2e"
REFUSED = ("passwd.md", "env.md", "up.md", "via-dir.md", "chain.md", "dangling.md",
           "loop.md", "fifo.md", "folder.md", "dir-link.md")


@pytest.fixture
def hostile(tmp_path, pg_dsn):
    """A playbooks folder, reached through a symlink, holding every shape of symlink and
    of not-a-file: the exporter runs with a secret in its environment."""
    import os

    (tmp_path / "outside.md").write_text(f"# {OUTSIDE}\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.md").write_text(f"# {OUTSIDE} too\n")
    folder = tmp_path / "playbooks"
    (folder / "real").mkdir(parents=True)
    (folder / "jobs.md").write_text("# Jobs\n\n## JobsStuck\n")
    (folder / "real" / "deep.md").write_text("# Deep\n")
    links = {
        "inside.md": "jobs.md",                      # stays inside: served
        "insub.md": "real/deep.md",                  # through a real subfolder: served
        "passwd.md": "/etc/passwd",
        "env.md": "/proc/self/environ",
        "up.md": "../outside.md",                    # relative, out of the folder
        "linked": "../elsewhere",                    # a symlinked directory outside...
        "via-dir.md": "linked/secret.md",            # ...and a file reached through it
        "hop": "../outside.md",                      # a chain: chain.md -> hop -> outside
        "chain.md": "hop",
        "dangling.md": "nowhere.md",
        "loop.md": "loop.md",
        "dir-link.md": "real",                       # a directory named like a page
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    os.mkfifo(folder / "fifo.md")
    (folder / "folder.md").mkdir()
    (tmp_path / "pb").symlink_to(folder)
    port = free_port()
    config = write_config(tmp_path, f"""
web:
  listen_address: "127.0.0.1:{port}"
  playbooks_dir: {tmp_path / "pb"}
sources:
  - name: db
    kind: postgres
    dsn: "{pg_dsn}"
""")
    proc = ExporterProcess(config, port, env={"PAGERKIT_TEST_SECRET": SECRET})
    yield f"http://127.0.0.1:{port}", proc
    assert proc.stop() == 0


def test_no_file_outside_the_folder_is_served_or_listed(hostile):
    """Symlinks out of the folder (absolute, relative, through a linked directory, a
    chain), dangling ones, loops, a fifo and directories named x.md: 404 for GET and
    HEAD, absent from the index, nothing of theirs in any answer, each logged once;
    symlinks that stay inside are served."""
    base, proc = hostile
    answers = []
    for _ in range(2):
        for name in REFUSED:
            for method in ("GET", "HEAD"):
                response = requests.request(method, f"{base}/playbooks/{name}", timeout=5)
                assert response.status_code == 404, (method, name)
                answers.append(response.text)
        index = requests.get(f"{base}/playbooks/", timeout=5)
        assert index.status_code == 200
        answers.append(index.text)
        assert re.findall(r'<a href="([^"]+)">', index.text) == [
            "./", "inside.md", "insub.md", "jobs.md"]
    for name, title in (("inside.md", "Jobs"), ("insub.md", "Deep"), ("jobs.md", "Jobs")):
        page = requests.get(f"{base}/playbooks/{name}", timeout=5)
        assert page.status_code == 200 and f"<h1 id=\"{title.lower()}\">{title}</h1>" \
            in page.text, name
    for text in answers:
        assert SECRET not in text and OUTSIDE not in text and "root:x:0:0" not in text
    assert requests.get(f"{base}/metrics", timeout=10).status_code == 200
    log = proc.stderr()
    assert "Traceback" not in log and SECRET not in log
    for name in REFUSED:
        assert log.count(f"not serving {name}:") == 1, (name, log)
