# linerec: the two set-up commands are `make demo` and `make test`; each sets up what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export LINEREC_STATE_DIR ?= $(CURDIR)/.state

.PHONY: setup demo test test-unit services down clean

setup:
	@scripts/setup.sh

## make demo: the three DAGs end to end on the embedded default (embedded Postgres + S3 server)
demo: setup
	@echo "[demo] running annotation_sync -> training -> nightly_recognition with dag.test()"
	@$(PY) scripts/demo.py

## make test: the whole test suite against real services (embedded unless configured)
test: setup
	@echo "[test] running pytest (unit, DAG integrity, Horovod, end to end)"
	@$(PY) -m pytest -q

test-unit: setup
	@$(PY) -m pytest -q tests/unit

services: setup
	@$(VENV)/bin/linerec services up

down:
	@$(VENV)/bin/linerec services down

clean: down
	rm -rf $(LINEREC_STATE_DIR)
