"""The one interface every LLM back-end implements (no Kedro import).

Requests are plain text prompts (chat templates are applied before, by ``prompts``), so a partial solution
can be continued after a code block's output is appended. Stop strings are excluded from the returned text;
``stop_reason`` says which one ended the completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "error"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one completion."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None  # per-request seed where the back-end supports it (see each engine's docs)


@dataclass(frozen=True)
class GenerationRequest:
    """A text prompt to continue."""

    prompt: str
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True)
class Completion:
    """What an engine returns for one request."""

    text: str  # without the stop string
    finish_reason: FinishReason  # "stop": a stop string or end of sequence; "length": max_tokens or context
    stop_reason: str | None = None  # the stop string that matched, None for end of sequence
    tokens_in: int = 0
    tokens_out: int = 0
    error: str | None = None  # set when finish_reason == "error" (e.g. the prompt is longer than the context)
    # With finish_reason "error": True when the request itself was refused (too long, invalid) and sending it
    # again gets the same answer; False (the default) when the engine or the transport failed (server down,
    # overloaded, request aborted), so the same request may well succeed later.
    rejected: bool = False


class EngineError(RuntimeError):
    """An engine cannot be started or cannot serve at all (bad model path, unreachable server, ...)."""


@runtime_checkable
class Engine(Protocol):
    """An LLM back-end. ``generate`` returns one completion per request, in order."""

    name: str  # "vllm", "openai", ...
    model: str  # what the completions come from (path or served model name)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]: ...

    def close(self) -> None: ...
