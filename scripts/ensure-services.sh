#!/usr/bin/env bash
# Make sure what the test suite talks to is here and running: PostgreSQL, RabbitMQ with
# its management and rabbitmq_prometheus plugins, and Prometheus's promtool. As root, missing Debian packages are
# installed; otherwise the script says exactly what to install and fails.
set -euo pipefail

APT_PACKAGES=(prometheus prometheus-alertmanager postgresql postgresql-contrib rabbitmq-server
              chromium chromium-driver)
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql postgresql-contrib)
command -v rabbitmqctl >/dev/null || missing+=(rabbitmq-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)

if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # Debian's packages try to start their services; we start what we need ourselves.
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get install -y -q --no-install-recommends "${missing[@]}"
        rm -f /usr/sbin/policy-rc.d
    else
        echo "missing: ${missing[*]}" >&2
        echo "install them with: sudo apt-get install ${APT_PACKAGES[*]}" >&2
        exit 1
    fi
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth for the tests' own databases.
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    if [[ $(id -u) -eq 0 ]]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    else
        echo "PostgreSQL is not running on 127.0.0.1:5432; start it (pg_ctlcluster ... main start)" >&2
        exit 1
    fi
fi

# RabbitMQ on 127.0.0.1:5672 (guest/guest), with the management API on 15672 and the
# rabbitmq_prometheus plugin on 15692 (what the example config and the demo read).
if [[ $(id -u) -eq 0 ]]; then
    if ! rabbitmqctl -q status >/dev/null 2>&1; then
        rabbitmq-server -detached
        for _ in $(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
    fi
    rabbitmq-plugins -q enable rabbitmq_management rabbitmq_prometheus >/dev/null
fi
# The management API starts a few seconds after the plugin is enabled.
api_up() {
    python3 - <<'PY'
import base64, sys, urllib.request
request = urllib.request.Request("http://127.0.0.1:15672/api/overview", headers={
    "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
try:
    sys.exit(0 if urllib.request.urlopen(request, timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}
for _ in $(seq 60); do api_up && break; sleep 1; done
if ! api_up; then
    echo "the RabbitMQ management API does not answer on 127.0.0.1:15672;" \
         "enable it: rabbitmq-plugins enable rabbitmq_management" >&2
    exit 1
fi
plugin_up() {
    python3 -c 'import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen("http://127.0.0.1:15692/metrics", timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)'
}
for _ in $(seq 30); do plugin_up && break; sleep 1; done
if ! plugin_up; then
    echo "RabbitMQ's rabbitmq_prometheus plugin does not answer on 127.0.0.1:15692;" \
         "enable it: rabbitmq-plugins enable rabbitmq_prometheus" >&2
    exit 1
fi
echo "services ready: PostgreSQL, RabbitMQ, promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}')"
