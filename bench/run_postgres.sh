#!/bin/sh
# Runs the PostgreSQL scrape benchmark with the project's venv; options are passed on.
# What `make bench` runs. See bench/README.md.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
python="$root/.venv/bin/python"
if [ ! -x "$python" ]; then
    echo "run_postgres.sh: $python not found; create it: python3 -m venv .venv && .venv/bin/pip install -e '.[test]'" >&2
    exit 2
fi
exec "$python" "$root/bench/postgres_bench.py" "$@"
