# Two commands: `make demo` and `make test`. Both work on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Debian packages, installed with apt when missing. The demo starts redis-server only; the
# suite also needs redis-cli (the cluster fixture), promtool (lints our Prometheus exposition),
# Prometheus and Alertmanager (tests run real ones), headless Chromium for the dashboard's
# real-browser test and an emoji font so its screenshots show the verdict badges, and
# PostgreSQL (the shared store's tests start their own server; Debian keeps initdb off PATH).
DEMO_PACKAGES := redis-server redis-tools
DEMO_COMMANDS := redis-server redis-cli
TEST_PACKAGES := $(DEMO_PACKAGES) prometheus prometheus-alertmanager chromium fonts-noto-color-emoji postgresql
TEST_COMMANDS := $(DEMO_COMMANDS) promtool prometheus prometheus-alertmanager chromium
TEST_FILES := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) /usr/lib/postgresql/VERSION/bin/initdb)

# $(1): commands that must be on PATH, $(2): files that must exist, $(3): the apt packages.
define install_missing
	@missing=""; for c in $(1); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	for f in $(2); do [ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "Missing:$$missing. Install them with:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y $(3)"; \
	    exit 1; \
	  fi; \
	  echo "Installing$$missing with apt ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(3) >/dev/null; \
	fi
endef

.PHONY: test test-quick demo lint system-deps demo-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[platform,dev,bench]'
	touch $@

system-deps:
	$(call install_missing,$(TEST_COMMANDS),$(TEST_FILES),$(TEST_PACKAGES))

demo-deps:
	$(call install_missing,$(DEMO_COMMANDS),,$(DEMO_PACKAGES))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The suite mostly waits (servers starting, load tests of fixed length), so it runs in
# parallel processes even on two cores; one file per process keeps module fixtures shared.
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

test: $(STAMP) system-deps lint
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-quick: $(STAMP) system-deps
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow" -x -q

demo: $(STAMP) demo-deps
	$(BIN)/castiel demo

bench: $(STAMP) demo-deps
	$(BIN)/python bench/queue_throughput.py

clean:
	rm -rf $(VENV) .castiel .mypy_cache .ruff_cache .pytest_cache
