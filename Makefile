# Two commands: `make demo` and `make test`. Both work on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Debian packages the suite and the demo start for real: redis-server (+ redis-cli for the
# cluster fixture), promtool (lints our Prometheus exposition) and Alertmanager (the alerts
# tests post to a real one), and headless Chromium for the dashboard's real-browser test
# (with an emoji font, so the screenshots show the verdict badges).
APT_PACKAGES := redis-server redis-tools prometheus prometheus-alertmanager chromium fonts-noto-color-emoji
NEEDED_COMMANDS := redis-server redis-cli promtool prometheus-alertmanager chromium

.PHONY: test test-quick demo lint system-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

system-deps:
	@missing=""; for c in $(NEEDED_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "Missing:$$missing. Install them with:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	  echo "Installing$$missing with apt ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) system-deps lint
	$(BIN)/pytest

test-quick: $(STAMP) system-deps
	$(BIN)/pytest -m "not slow" -x -q

demo: $(STAMP) system-deps
	$(BIN)/castiel demo

bench: $(STAMP) system-deps
	$(BIN)/python bench/queue_throughput.py

clean:
	rm -rf $(VENV) .castiel .mypy_cache .ruff_cache .pytest_cache
