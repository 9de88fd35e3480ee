# pagerkit: the front door. `make test` from a fresh clone installs and runs everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test unit integration lint generate validate services bench demo report clean

test: $(STAMP) services
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) services
	$(BIN)/pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check exporter tests bench scripts examples
	$(BIN)/mypy

generate: $(STAMP)
	$(BIN)/pagerkit generate

validate: $(STAMP)
	$(BIN)/pagerkit generate --check
	$(BIN)/pagerkit validate

services:
	bash scripts/ensure-services.sh

# DEMO_ARGS="--quiet-start 10": the demo's options (.venv/bin/python scripts/demo.py --help).
DEMO_ARGS ?=
demo: $(STAMP) services
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

# The on-call report of the Prometheus at $$PAGERKIT_PROMETHEUS_URL (default
# 127.0.0.1:9090) and the Alertmanager of alertmanager/routing.yaml; REPORT_ARGS="--since 1h".
REPORT_ARGS ?= --since 28d
report: $(STAMP)
	$(BIN)/pagerkit report $(REPORT_ARGS) -o report.html

bench: $(STAMP) services
	$(BIN)/python bench/postgres_bench.py
	$(BIN)/python bench/rabbitmq_bench.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/relay_bench.py
	$(BIN)/python bench/ha_bench.py
	$(BIN)/python bench/auth_bench.py

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q python3-venv; \
	  else echo "install python3-venv (sudo apt-get install python3-venv)" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,report]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache exporter/*.egg-info
