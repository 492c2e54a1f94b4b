"""LLM inference back-ends behind one interface (no Kedro import): in-process vLLM and OpenAI-compatible servers."""

from __future__ import annotations

import inspect
from typing import Any

from .base import Completion, Engine, EngineError, FinishReason, GenerationRequest, SamplingParams
from .openai_engine import OpenAIEngine
from .settings import ENGINE_SETTINGS, EngineSettingsError, OpenAISettings, VLLMSettings, resolve_engine
from .vllm_engine import VLLMEngine

ENGINE_KINDS: dict[str, type] = {"vllm": VLLMEngine, "openai": OpenAIEngine}

__all__ = [
    "ENGINE_KINDS",
    "ENGINE_SETTINGS",
    "Completion",
    "Engine",
    "EngineError",
    "EngineSettingsError",
    "FinishReason",
    "GenerationRequest",
    "OpenAIEngine",
    "OpenAISettings",
    "SamplingParams",
    "VLLMEngine",
    "VLLMSettings",
    "create_engine",
    "resolve_engine",
]


def create_engine(*, kind: str, **settings: Any) -> Engine:
    """An engine of ``kind`` ("vllm" or "openai") from its settings (the keyword arguments of its class).

    Parameters are checked earlier, when a run starts, by the typed models of ``settings.py``
    (``resolve_engine``); this check of the class signature covers direct callers.
    """
    if kind not in ENGINE_KINDS:
        raise EngineError(f"unknown engine kind {kind!r}; known kinds: {', '.join(sorted(ENGINE_KINDS))}")
    cls = ENGINE_KINDS[kind]
    # checked here so a typo in the parameters file names the setting instead of a bare TypeError
    accepted = [name for name in inspect.signature(cls).parameters]
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise EngineError(
            f"unknown setting(s) for the {kind} engine: {', '.join(unknown)}; "
            f"accepted settings: {', '.join(accepted)}"
        )
    return cls(**settings)
