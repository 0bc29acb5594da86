# ctrbench: `make run` runs the benchmark, `make test` runs the test suite.
# Both install whatever they need and is missing first (Debian packages, the Python venv, Maven jars);
# installed packages are never upgraded.

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the benchmark needs: a JDK for Kafka and Flink, Maven to fetch jars, PostgreSQL's
# server binaries, and venv for Python.
RUN_PACKAGES := openjdk-17-jdk-headless maven postgresql python3-venv
# The tests also need shellcheck (k8s scripts), Prometheus and its Pushgateway (metrics and dashboard
# tests); the local Kubernetes cluster installs its own packages (k8s/local/cluster.sh).
TEST_PACKAGES := shellcheck prometheus prometheus-pushgateway
ARGS ?=
PYTEST_ARGS ?=
# helm for the chart tests and actionlint for the workflow, built from the Go module proxy (no binary
# downloads here). A plain go build of helm defaults its Kubernetes version to 1.20: the tests pass --kube-version.
HELM_VERSION := v3.19.0
ACTIONLINT_VERSION := v1.7.12
CACHE_DIR := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ctrbench
HELM := $(CACHE_DIR)/bin/helm
ACTIONLINT := $(CACHE_DIR)/bin/actionlint

.PHONY: help run-deps test-deps jars helm run test search soak images cluster-up cluster-down e2e clean

help: ## Show this help
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	k8s/install-packages.sh $(RUN_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[flink,spark,dev]'
	touch $@

jars: $(STAMP) ## Resolve the Kafka broker, Flink and Spark connector jars from Maven Central, build the job's format (cached)
	@$(BIN)/python -c 'from ctrbench.embedded import jars; from ctrbench.flink_job.job import FORMAT_MODULE; \
	  [jars.resolve(p) for p in ("kafka-broker", "flink-connectors", "spark-connectors")]; jars.build(FORMAT_MODULE)'

run-deps: $(STAMP) jars ## Install what `make run` needs (JDK, Maven, PostgreSQL, the venv, the jars)
	@k8s/install-packages.sh $(RUN_PACKAGES)

$(HELM):
	@command -v go >/dev/null || { echo "error: Go is needed to build helm (go install); install Go 1.24+"; exit 1; }
	@echo "building helm $(HELM_VERSION) with go install (first run only, about 2 minutes)"
	GOBIN=$(CACHE_DIR)/bin go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(ACTIONLINT):
	@command -v go >/dev/null || { echo "error: Go is needed to build actionlint (go install); install Go 1.24+"; exit 1; }
	GOBIN=$(CACHE_DIR)/bin go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

helm: $(HELM) ## Build helm into the ctrbench cache (for the chart tests)

test-deps: run-deps $(HELM) $(ACTIONLINT) ## Install what `make test` needs besides the cluster (which installs its own)
	@k8s/install-packages.sh $(TEST_PACKAGES)

run: run-deps ## Run the benchmark on the embedded stack (extra options: make run ARGS="--duration 30")
	$(BIN)/ctrbench run $(ARGS)

search: run-deps ## Find the highest sustainable rate on the embedded stack (make search ARGS="--parallelism 2")
	$(BIN)/ctrbench search $(ARGS)

soak: run-deps ## Soak: 10 minutes at 60,000 events/s; memory flat, latency stable, results exact (make soak ARGS="--rate 30000")
	$(BIN)/ctrbench soak $(ARGS)

test: test-deps ## Run the whole test suite, the local Kubernetes cluster's end-to-end run included
	$(BIN)/pytest $(PYTEST_ARGS)

images: run-deps ## Build the images (ARGS="--spark" adds the Spark one; "--standins" when no registry is reachable)
	eval "$$(k8s/docker.sh start)" && k8s/build-images.sh $(ARGS)

cluster-up: $(HELM) ## Start the local single-node Kubernetes cluster (builds it the first time)
	k8s/local/cluster.sh up

cluster-down: ## Stop the local cluster and remove everything it set up (make cluster-down ARGS=--purge: its state too)
	k8s/local/cluster.sh down $(ARGS)

e2e: test-deps ## The chart on the local cluster: images, helm install, a verified run (k8s/e2e.sh)
	PROVIDER=local k8s/e2e.sh

clean: ## Remove the venv and caches (downloaded jars, built tools and images stay in ~/.cache/ctrbench)
	rm -rf $(VENV) .pytest_cache
