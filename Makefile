# Two commands on a fresh machine: `make run` (set up, then one full replay) and `make test` (set up, whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
JARS := .cache/jars
CONF ?= {}
# spark-submit and the job's Python must be the venv's.
export PATH := $(BIN):$(PATH)
export PYSPARK_PYTHON := $(BIN)/python
# Local runs stay on loopback (Spark would otherwise pick the first interface address).
export SPARK_LOCAL_IP ?= 127.0.0.1
.PHONY: setup setup-test system-deps test-system-deps venv venv-test jars run up down test test-unit broker-start \
	broker-stop broker-status clean reference bench bench-readme bench-compressed bench-history check-dataset

# What running needs. `make test` adds the test tools (setup-test).
setup: system-deps venv jars
setup-test: setup test-system-deps venv-test

# From Debian's packages when the machine lacks them: Java and Maven (broker, Spark, jars).
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian's packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Only the suite needs these: the compose CLI (docker-compose config checks docker-compose.yaml; no Docker engine
# is needed for that) and Chromium for the browser tests (Playwright drives it; it never downloads a browser).
test-system-deps:
	@missing=""; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian's packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e .
	touch $@
venv-test: $(VENV)/.installed-test
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# Each pom is the one list of its jars (the image's build uses include/spark-kafka-pom.xml the same way); the
# Spark job's also builds its Java UDF (include/java) into the same folder.
jars: $(JARS)/kafka/.done $(JARS)/spark-kafka/.done
$(JARS)/kafka/.done: devtools/kafka-pom.xml
	rm -rf $(JARS)/kafka
	mvn -q -B -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(JARS)/kafka)
	touch $@
$(JARS)/spark-kafka/.done: include/spark-kafka-pom.xml $(wildcard include/java/*/*.java)
	rm -rf $(JARS)/spark-kafka
	mvn -q -B -f $< dependency:copy-dependencies package -DoutputDirectory=$(abspath $(JARS)/spark-kafka)
	touch $@

# VERBOSE=1: Airflow's whole log on the terminal instead of in .airflow/logs/make-run-*.log.
run: setup
	$(BIN)/python -m devtools.cli run --conf '$(CONF)'$(if $(VERBOSE), --verbose)

# The local broker, a Spark Connect server (a warm Spark; WARM_SPARK=0 for none) and Airflow 3 (api-server,
# scheduler, dag-processor, triggerer) on 127.0.0.1:8080.
up: setup
	$(BIN)/python -m devtools.cli up$(if $(filter 0,$(WARM_SPARK)), --no-spark-connect)
down:
	$(BIN)/python -m devtools.cli down

# Two xdist workers (TEST_WORKERS=n for more): each has its own broker, Spark, Airflow home and folders.
# --dist loadgroup: tests/conftest.py's scheduler keeps a module sharing one service (the browser tests' Airflow
# stack) on one worker and hands out the rest one by one, slowest first.
test: setup-test
	$(BIN)/python -m pytest -n $(or $(TEST_WORKERS),2) --dist loadgroup --durations=10

# The performance bench (bench/): side-by-side figures as JSON and a Markdown table (bench/results/latest.*).
# BENCH_SIZES=1,10 for a quicker run without the 100x day.
bench: setup-test
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.report --readme

# The README's Performance table (and bench/results/latest.md) rewritten from bench/results/latest.json.
bench-readme: setup-test
	$(BIN)/python -m bench.report --readme

# Row 6 of the bench alone: the 100x day read from .csv.gz/.bz2/.xz/.zst against the plain .csv (peak RSS, time);
# no broker. Results in bench/results/compressed.json and .md.
bench-compressed: setup-test
	$(BIN)/python -m bench.compressed

# Row 8 of the bench alone: the Replay validation page over 2,000 synthetic run folders (page 1, a filtered page,
# the JSON API). Results in bench/results/history.json and .md.
bench-history: setup-test
	$(BIN)/python -m bench.history

# The unit set only (conftest marks every test without a service marker `unit`), ~10 s.
test-unit: setup-test
	$(BIN)/python -m pytest -m unit

broker-start: setup
	$(BIN)/python -m devtools.cli broker start
broker-stop:
	$(BIN)/python -m devtools.cli broker stop
broker-status:
	$(BIN)/python -m devtools.cli broker status

# Read a recording (file, folder or glob; .csv or .csv.gz/.bz2/.xz/.zst) as the replay will: its summary and first
# errors, nothing sent to Kafka; exits 1 when it has an error. RECORDING_START=... for a time-of-day recording
# that crosses midnight.
check-dataset: venv
	@test -n '$(DATASET)' || { echo "usage: make check-dataset DATASET=path [RECORDING_START=2024-03-30T20:00:00Z]" >&2; exit 2; }
	@$(BIN)/python -m devtools.cli check-dataset '$(DATASET)'$(if $(RECORDING_START), --recording-start '$(RECORDING_START)')

# Regenerate data/metrics.csv, the time-true recordings (data/dated_multiday/, data/midnight.csv) and their
# expected outputs with the independent reference implementation.
reference: venv
	$(BIN)/python -m devtools.cli generate --out data/metrics.csv --expected data/metrics_expected.csv \
	  --expected-net-disk data/metrics_net_disk_expected.csv
	$(BIN)/python -m devtools.generate data

clean:
	-$(BIN)/python -m devtools.cli broker stop
	rm -rf .airflow output .kafka .spark-connect
