# ctrbench: `make run` runs the benchmark, `make test` runs the test suite.
# Both install whatever is missing first (Debian packages, the Python venv, Maven jars).

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the embedded stack needs: a JDK for Kafka and Flink, Maven to fetch jars,
# PostgreSQL's server binaries, shellcheck for the k8s scripts, the Prometheus Pushgateway for the
# report's metrics tests. Only installed when a command is missing.
APT_PACKAGES := openjdk-17-jdk-headless maven postgresql shellcheck prometheus-pushgateway
ARGS ?=
PYTEST_ARGS ?=
# helm for the chart tests, built from the Go module proxy (no binary downloads here).
# A plain go build defaults its Kubernetes version to 1.20: the tests pass --kube-version.
HELM_VERSION := v3.19.0
CACHE_DIR := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ctrbench
HELM := $(CACHE_DIR)/bin/helm

.PHONY: help deps system-deps jars helm run test clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Install JDK 17, Maven and PostgreSQL from Debian if any is missing
	@missing=0; \
	command -v java >/dev/null || missing=1; \
	command -v mvn >/dev/null || missing=1; \
	command -v shellcheck >/dev/null || missing=1; \
	command -v prometheus-pushgateway >/dev/null || missing=1; \
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
	$(BIN)/pip install -q -e '.[flink,dev]'
	touch $@

jars: $(STAMP) ## Resolve the Kafka broker and Flink connector jars from Maven Central (cached)
	$(BIN)/python -c 'from ctrbench.embedded import jars; [print(jars.resolve(p)) for p in ("kafka-broker", "flink-connectors")]'

$(HELM):
	@command -v go >/dev/null || { echo "Go is needed to build helm (go install); install Go 1.24+"; exit 1; }
	@echo "building helm $(HELM_VERSION) with go install (first run only, a few minutes)"
	GOBIN=$(CACHE_DIR)/bin go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

helm: $(HELM) ## Build helm into the ctrbench cache (for the chart tests)

deps: system-deps $(STAMP) jars $(HELM) ## Install everything the pipeline and the tests need

run: deps ## Run the benchmark on the embedded stack (extra options: make run ARGS="--duration 30")
	$(BIN)/ctrbench run $(ARGS)

test: deps ## Run the whole test suite (real Kafka, PostgreSQL and Flink, started by the tests)
	$(BIN)/pytest $(PYTEST_ARGS)

clean: ## Remove the venv and caches (downloaded jars stay in ~/.cache/ctrbench)
	rm -rf $(VENV) .pytest_cache
