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
# Only the connector and what pyspark's own jars/ lacks; the rest (scala, hadoop client, slf4j, lz4, snappy)
# already ships with pyspark 4.2.0.
SPARK_KAFKA_ARTIFACTS := spark-sql-kafka-0-10_2.13,spark-token-provider-kafka-0-10_2.13,kafka-clients,commons-pool2

.PHONY: setup system-deps venv jars run up down test test-unit broker-start broker-stop broker-status clean reference bench

setup: system-deps venv jars

# From Debian's packages when the machine lacks them: Java and Maven (broker, Spark, jars), the compose CLI
# (docker-compose config checks docker-compose.yaml; no Docker engine is needed for that) and Chromium for
# the browser test (Playwright drives it; it never downloads a browser of its own).
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian's packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

jars: $(JARS)/kafka/.done $(JARS)/spark-kafka/.done
$(JARS)/kafka/.done: include/infra/kafka-pom.xml
	rm -rf $(JARS)/kafka
	mvn -q -B -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(JARS)/kafka)
	touch $@
$(JARS)/spark-kafka/.done: include/infra/spark-kafka-pom.xml
	rm -rf $(JARS)/spark-kafka
	mvn -q -B -f $< dependency:copy-dependencies -DincludeScope=runtime \
	  -DincludeArtifactIds=$(SPARK_KAFKA_ARTIFACTS) -DoutputDirectory=$(abspath $(JARS)/spark-kafka)
	touch $@

run: setup
	$(BIN)/python -m include.cli run --conf '$(CONF)'

# The local broker and Airflow 3 (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1:8080.
up: setup
	$(BIN)/python -m include.cli up
down:
	$(BIN)/python -m include.cli down

test: setup
	$(BIN)/python -m pytest

# The performance bench (bench/): side-by-side figures as JSON and a Markdown table (bench/results/latest.*).
# BENCH_SIZES=1,10 for a quicker run without the 100x day.
bench: setup
	$(BIN)/python -m bench.run

test-unit: setup
	$(BIN)/python -m pytest -m "not integration and not spark and not e2e"

broker-start: setup
	$(BIN)/python -m include.cli broker start
broker-stop:
	$(BIN)/python -m include.cli broker stop
broker-status:
	$(BIN)/python -m include.cli broker status

# Regenerate data/metrics.csv and its expected output with the independent reference implementation.
reference: venv
	$(BIN)/python -m include.cli generate --out data/metrics.csv --expected data/metrics_expected.csv \
	  --expected-net-disk data/metrics_net_disk_expected.csv

clean:
	-$(BIN)/python -m include.cli broker stop
	rm -rf .airflow output .kafka
