# One task runner for developers and CI. Every target works from a fresh clone:
#   make deps    .venv + Python packages (editable, [dev,bench]) + Debian prometheus/alertmanager when root
#   make test    the whole suite, integration tests included   (PYTEST_ARGS="-k foo" to narrow it)
#   make demo    simulate a cluster, collect, cost, report
#   make bench   run every bench/bench_*.py                     (BENCH="name ..." to pick some)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEBS := prometheus prometheus-alertmanager
BINARIES := prometheus promtool prometheus-alertmanager amtool
STAMP := $(VENV)/.neocost-deps
POLICY_RC ?= /usr/sbin/policy-rc.d

.PHONY: help deps python-deps system-deps test demo bench

help:
	@sed -n '2,5s/^# \{0,1\}//p' Makefile

deps: python-deps system-deps

python-deps: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installed only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $@

# Debian packages: installed only as root with apt-get and only when a binary is missing. A policy-rc.d that
# exits 101 stops the postinst scripts from starting daemons on all interfaces; it is removed afterwards if
# this target created it.
system-deps:
	@missing=""; for b in $(BINARIES); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "neocost: missing$$missing (integration tests will be skipped, or fail with CI set). Install them with:"; \
	  echo "  sudo apt-get install -y --no-install-recommends $(DEBS)"; \
	  exit 0; \
	fi; \
	set -e; guard=; \
	if [ ! -e $(POLICY_RC) ]; then \
	  printf '#!/bin/sh\nexit 101\n' > $(POLICY_RC); chmod +x $(POLICY_RC); guard=1; \
	fi; \
	trap '[ -z "$$guard" ] || rm -f $(POLICY_RC)' EXIT; \
	if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then apt-get update -q; fi; \
	echo "neocost: installing $(DEBS) (missing:$$missing)"; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBS) >/dev/null; \
	for b in $(BINARIES); do command -v $$b >/dev/null || { echo "neocost: $$b still missing" >&2; exit 1; }; done

# PYTEST_EXIT_FILE (used by .ci/run) receives pytest's own exit code, which make would turn into 2.
test: deps
	@rc=0; $(VENV)/bin/pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; fi; \
	if [ -n "$(PYTEST_EXIT_FILE)" ]; then echo $$rc > "$(PYTEST_EXIT_FILE)"; fi; \
	exit $$rc

demo: deps
	$(VENV)/bin/neocost demo

bench: deps
	$(PY) -m bench $(BENCH)
