# ctrbench: `make run` runs the benchmark, `make test` runs the test suite.
# Both install whatever is missing first (Debian packages, the Python venv, Maven jars).

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the embedded stack needs: a JDK for Kafka and Flink, Maven to fetch jars,
# PostgreSQL's server binaries. Only installed when a command is missing.
APT_PACKAGES := openjdk-17-jdk-headless maven postgresql
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help deps system-deps jars run test lint clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Install JDK 17, Maven and PostgreSQL from Debian if any is missing
	@missing=0; \
	command -v java >/dev/null || missing=1; \
	command -v mvn >/dev/null || missing=1; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing=1; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing=1; \
	if [ $$missing = 1 ]; then \
	  echo "installing Debian packages: $(APT_PACKAGES) python3-venv"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(APT_PACKAGES) python3-venv; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

jars: $(STAMP) ## Resolve the Kafka broker and Flink connector jars from Maven Central (cached)
	$(BIN)/python -c 'from ctrbench.embedded import jars; [print(jars.resolve(p)) for p in ("kafka-broker", "flink-connectors")]'

deps: system-deps $(STAMP) jars ## Install everything the pipeline and the tests need

run: deps ## Run the benchmark on the embedded stack (extra options: make run ARGS="--duration 30")
	$(BIN)/ctrbench run $(ARGS)

test: deps ## Run the whole test suite (real Kafka, PostgreSQL and Flink, started by the tests)
	$(BIN)/pytest $(PYTEST_ARGS)

clean: ## Remove the venv and caches (downloaded jars stay in ~/.cache/ctrbench)
	rm -rf $(VENV) .pytest_cache
