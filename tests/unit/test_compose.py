"""docker-compose.yml, checked without Docker: schema, files, ports and targets agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from pagerkit.cli import main
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_matches_the_compose_schema():
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec",
                           str(ROOT / "docker-compose.yml")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_mounted_file_and_secret_exists():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}"
    for secret in COMPOSE["secrets"].values():
        assert (ROOT / secret["file"]).is_file()
    assert (ROOT / "Dockerfile").is_file()


def test_images_are_pinned_and_only_uis_are_published():
    published = set()
    for name, service in SERVICES.items():
        image = service.get("image", "")
        assert re.search(r":v?\d+\.\d+", image), f"{name}: pin {image!r} to a version"
        for port in service.get("ports", []):
            host, host_port, _ = port.split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published.add(int(host_port))
    assert published == {9630, 9090, 9093, 9632, 15672, 3000}


def test_prometheus_targets_and_rules_agree_with_the_services():
    prom = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]
    assert targets == ["pagerkit:9630", "alertmanager:9632"]  # the exporter, the relay
    exporter = yaml.safe_load((ROOT / "compose" / "pagerkit.yaml").read_text())
    assert exporter["web"]["listen_address"].endswith(":9630")
    assert [t for am in prom["alerting"]["alertmanagers"] for sc in am["static_configs"]
            for t in sc["targets"]] == ["alertmanager:9093"]
    rules_mount = next(v for v in SERVICES["prometheus"]["volumes"] if "rules" in v)
    source, target = rules_mount.split(":")[:2]
    assert prom["rule_files"] == [f"{target}/*.rules.yml"]
    assert list((ROOT / source).glob("*.rules.yml"))
    assert any(job["job_name"] == "pagerkit" for job in prom["scrape_configs"])  # `up` alert


def test_the_relay_is_where_alertmanager_sends_pages_with_its_password():
    routing = yaml.safe_load((ROOT / "alertmanager" / "routing.yaml").read_text())
    relay = yaml.safe_load((ROOT / "compose" / "relay.yaml").read_text())["relay"]
    assert SERVICES["relay"]["network_mode"] == "service:alertmanager"
    assert routing["relay_url"].endswith(":" + relay["listen_address"].rsplit(":", 1)[1])
    mounted = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["alertmanager"]["volumes"]}
    password = mounted[routing["relay_auth"]["password_file"]]
    assert COMPOSE["secrets"]["relay_password"]["file"] == password
    phone = SERVICES["phone"]
    assert phone["network_mode"] == "service:alertmanager"
    listen = phone["command"][phone["command"].index("--listen") + 1]
    assert relay["twilio"]["api_url"] == relay["pushover"]["api_url"] == f"http://{listen}"


def test_the_compose_relay_config_is_valid(tmp_path):
    from pagerkit.relay.config import load_relay_config

    text = (ROOT / "compose" / "relay.yaml").read_text()
    text = text.replace("/run/secrets/", f"{ROOT / 'compose'}/").replace(
        "/app/alertmanager", str(ROOT / "alertmanager"))
    (tmp_path / "relay.yaml").write_text(text)
    config = load_relay_config(str(tmp_path / "relay.yaml"))
    assert config.public_url == "http://localhost:9632"


def test_the_compose_exporter_config_is_valid(tmp_path, capsys):
    """With the secrets where Docker puts them, rewritten to the checked-in files."""
    text = (ROOT / "compose" / "pagerkit.yaml").read_text()
    text = text.replace("/run/secrets/", f"{ROOT / 'compose'}/").replace(
        "/app/playbooks", str(ROOT / "playbooks")).replace(
        "/app/alertmanager", str(ROOT / "alertmanager"))
    (tmp_path / "pagerkit.yaml").write_text(text)
    assert main(["check-config", "--config", str(tmp_path / "pagerkit.yaml")]) == 0


def test_grafana_reads_the_generated_dashboards_from_prometheus():
    datasource = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in SERVICES
    provider = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/pagerkit.yml").read_text())["providers"][0]
    mount = next(v for v in SERVICES["grafana"]["volumes"] if "dashboards" in v)
    assert mount.split(":")[1] == provider["options"]["path"]
    import json

    for path in (ROOT / "grafana/dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        assert all(t["datasource"]["uid"] == datasource["uid"]
                   for p in board["panels"] for t in p["targets"])
