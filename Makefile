# linerec: the two set-up commands are `make demo` and `make test`; each sets up what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export LINEREC_STATE_DIR ?= $(CURDIR)/.state

.PHONY: setup demo lint test test-unit chaos services down clean airflow airflow-celery labelstudio bench-nightly bench-quality

setup:
	@scripts/setup.sh

## make demo: the three DAGs end to end on the embedded default (embedded Postgres + S3 server)
demo: setup
	@echo "[demo] running annotation_sync -> training -> nightly_recognition with dag.test()"
	@$(PY) scripts/demo.py

## make lint: ruff (lint + format check) and mypy on the library and the steps (pyproject.toml); a few seconds
lint: setup
	@echo "[lint] ruff check, ruff format --check, mypy"
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

## make test: lint, then the whole test suite against real services (embedded unless configured)
test: setup lint
	@echo "[test] running pytest (unit, DAG integrity, Horovod, end to end)"
	@$(PY) -m pytest -q --ignore=tests/chaos

test-unit: setup
	@$(PY) -m pytest -q tests/unit

## make chaos: the fault-injection suite (tests/chaos: Postgres restarted, S3 gone 10 s, Label Studio 500s and
## timeouts) and a table per fault: runs, survived, rows lost, duplicates. CHAOS_RUNS=N repeats it.
chaos: setup
	@$(PY) scripts/chaos.py

## make airflow: Airflow 3 standalone on http://127.0.0.1:8080 with the project's DAGs, Postgres as its
## metadata database and connections from the environment (AIRFLOW_PORT=... for another port; Ctrl-C stops it)
airflow: setup
	@scripts/airflow.sh

## make airflow-celery: Airflow 3 with the CeleryExecutor (Redis, API server on the first free port from 8090,
## scheduler, DAG processor, a `default` and a `gpu` Celery worker), Postgres as its metadata database;
## Ctrl-C stops it, or `scripts/airflow_celery.sh stop` from another shell
airflow-celery: setup
	@scripts/airflow_celery.sh

services: setup
	@$(VENV)/bin/linerec services up

## make labelstudio: Label Studio 1.23.2 (own venv, installed once) on 127.0.0.1:8081 (LABEL_STUDIO_PORT); stop: scripts/labelstudio.sh stop
labelstudio: setup
	@scripts/labelstudio.sh start

down:
	@$(VENV)/bin/linerec services down

clean: down
	rm -rf $(LINEREC_STATE_DIR)

## make bench-nightly: nightly recognition figures next to the speed targets. Own state folder
## and S3 ports (never the demo's or the tests'); installs the peers when missing (Tesseract by apt,
## PaddleOCR's rapidocr_onnxruntime in its own venv).
BENCH_STATE ?= $(CURDIR)/.state/bench
bench-nightly: setup
	@command -v tesseract >/dev/null || { echo "[bench] installing tesseract-ocr tesseract-ocr-eng (baseline)"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null; }
	@scripts/setup_rapidocr.sh >/dev/null
	@export LINEREC_STATE_DIR=$(BENCH_STATE) LINEREC_S3_PORT=9253 LINEREC_S3_AUX_PORT=19250; \
	  $(PY) scripts/bench_nightly.py $(BENCH_ARGS); status=$$?; \
	  $(VENV)/bin/linerec services down >/dev/null; exit $$status

## make bench-quality: recognition quality on 200 held-out generated pages (cached in .state/bench-quality/)
## and on the held-out real scans (SROIE, FUNSD; LINEREC_REAL_DATA) next to its targets, Tesseract 5 and
## PaddleOCR (RapidOCR, own venv by scripts/setup_rapidocr.sh) side by side, both installed when missing.
## MODEL=dir for another model; REPORT=1 also writes an evaluation report to <model>/eval/, REPORT=dir to dir/.
bench-quality: setup
	@command -v tesseract >/dev/null || { echo "[bench-quality] installing tesseract-ocr tesseract-ocr-eng (peer)"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null; }
	@scripts/setup_rapidocr.sh >/dev/null
	@$(PY) scripts/bench_quality.py $(if $(MODEL),--model $(MODEL)) \
	  $(if $(REPORT),--report $(filter-out 1,$(REPORT))) $(BENCH_ARGS)
