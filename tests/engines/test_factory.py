"""create_engine: kinds and settings are checked with clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openmath_kedro.engines import Engine, EngineError, OpenAIEngine, VLLMEngine, create_engine


def test_known_kinds_build_engines_without_starting_them() -> None:
    engine = create_engine(kind="vllm", model="/models/x", dtype="float32")
    assert isinstance(engine, VLLMEngine) and isinstance(engine, Engine) and engine.name == "vllm"
    with create_engine(kind="openai", model="m", base_urls=["http://127.0.0.1:1/v1"]) as remote:
        assert isinstance(remote, OpenAIEngine) and isinstance(remote, Engine)


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(EngineError, match="'llamacpp'.*openai, vllm"):
        create_engine(kind="llamacpp", model="m")


def test_unknown_setting_is_named() -> None:
    with pytest.raises(EngineError, match="temprature"):
        create_engine(kind="vllm", model="m", temprature=0.5)


def test_importing_the_package_does_not_import_vllm() -> None:
    # the CLI and the pipelines import engines on every run; vLLM and torch cost seconds. A fresh
    # interpreter: in this one, other tests may have imported them already.
    probe = "import sys, openmath_kedro.engines; print(sorted({'vllm', 'torch'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
