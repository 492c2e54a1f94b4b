"""Typed settings of each engine kind, and how a parameters ``engine`` block selects one kind's settings.

In the parameters, ``engine`` names the kind and keeps each kind's settings in a block of its own::

    engine:
      kind: vllm                  # the only key to change to switch engines
      vllm: {dtype: auto, max_model_len: 4096}
      openai: {base_urls: ["http://127.0.0.1:8000/v1"], model: teacher}

Only the selected kind's block is used; the others are checked for unknown setting names only. With Kedro's soft
merge a key can be overridden but never deleted, so ``--params generation.engine.kind=openai`` has to work with
the vLLM settings still in place: keeping them in their own block is what makes that one key enough.

``resolve_engine`` turns such blocks (several layers, later ones over earlier ones: ``evaluation.engine`` then a
model's own ``engine``) into the resolved form ``{"kind": "openai", "base_urls": [...], "model": ...}``: the
kind and the settings it was given, which is what ``create_engine`` and the nodes take. The resolved form is a
valid block too (settings next to ``kind``, no per-kind block), so resolving is idempotent; mixing both forms
in one block is an error (``engine.max_model_len`` next to ``engine.vllm`` is almost always a misplaced key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VLLMSettings(_Settings):
    """``VLLMEngine``'s keyword arguments (``engines/vllm_engine.py``); ``model`` defaults to the pipeline's checkpoint."""

    model: str | None = Field(
        default=None, description="checkpoint directory to serve (None: the pipeline's catalog checkpoint)"
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32", "half", "float"] = Field(
        default="auto",
        description="auto: bfloat16 on CPUs with AVX512-BF16/AMX, else float32; vLLM's on CUDA",
    )
    seed: int = Field(default=0, description="engine seed (governs sampling on CPU, see engines/README.md)")
    max_model_len: int | None = Field(default=None, ge=2, description="context length (None: the model's)")
    enable_prefix_caching: bool = True
    enforce_eager: bool | None = Field(default=None, description="None: True on CPU, False on CUDA")
    kv_cache_space_gb: int | None = Field(default=None, ge=1, description="CPU KV cache (None: 2 GB)")
    tensor_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    extra: dict[str, Any] | None = Field(default=None, description="passed to vllm.LLM as is")


class OpenAISettings(_Settings):
    """``OpenAIEngine``'s keyword arguments (``engines/openai_engine.py``), with ``credentials`` for its api_key."""

    model: str = Field(description="the served model name")
    base_urls: list[str] = Field(
        min_length=1, description="e.g. http://127.0.0.1:8000/v1; several share the load"
    )
    credentials: str | None = Field(
        default=None,
        description="NAME of the conf/local/credentials.yml entry holding the api_key (None: $OPENAI_API_KEY)",
    )
    mode: Literal["completions", "chat"] = "completions"
    max_concurrency: int = Field(default=16, ge=1)
    max_retries: int = Field(default=5, ge=0)
    timeout_s: float = Field(default=120, gt=0)
    backoff_s: float = Field(default=1.0, ge=0)

    @field_validator("base_urls", mode="before")
    @classmethod
    def _one_url(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # --params ...openai.base_urls=http://host/v1


ENGINE_SETTINGS: dict[str, type[_Settings]] = {"vllm": VLLMSettings, "openai": OpenAISettings}

_HINTS = {
    "api_key": "API keys stay out of the parameters: credentials: NAME picks an entry of conf/local/credentials.yml"
}


class EngineSettingsError(ValueError):
    """An engine block that names no kind, an unknown kind or setting, or a setting of the wrong type.

    ``problems`` holds (location, message) pairs; locations start with the ``where`` of their layer.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{location}: {message}" if location else message for location, message in problems)
        )


def _at(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def _unknown_setting(where: str, name: str, kind: str) -> tuple[str, str]:
    hint = _HINTS.get(name, f"its settings: {', '.join(ENGINE_SETTINGS[kind].model_fields)}")
    return _at(where, name), f"unknown setting of the {kind} engine ({hint})"


def _split(block: Any, where: str) -> tuple[str | None, dict[str, dict[str, Any]], dict[str, Any]]:
    """(kind or None, per-kind blocks, settings given next to kind) of one engine block."""
    if not isinstance(block, Mapping):
        raise EngineSettingsError(
            [(where, f"expected kind and per-kind settings (vllm: ..., openai: ...), got {block!r}")]
        )
    kind = block.get("kind")
    if kind is not None and kind not in ENGINE_SETTINGS:
        raise EngineSettingsError(
            [(_at(where, "kind"), f"unknown engine kind {kind!r}; known kinds: {', '.join(ENGINE_SETTINGS)}")]
        )
    blocks: dict[str, dict[str, Any]] = {}
    for name in ENGINE_SETTINGS:
        if name in block:
            value = block[name] if block[name] is not None else {}
            if not isinstance(value, Mapping):
                raise EngineSettingsError(
                    [(_at(where, name), f"expected the {name} engine's settings, got {value!r}")]
                )
            blocks[name] = dict(value)
    loose = {key: value for key, value in block.items() if key != "kind" and key not in ENGINE_SETTINGS}
    if blocks and loose:
        target = kind or next(iter(blocks))
        raise EngineSettingsError(
            [
                (
                    _at(where, name),
                    f"engine settings go under the block of their kind ({_at(where, target, name)}); "
                    "only the block of the selected kind is used",
                )
                for name in sorted(loose)
            ]
        )
    return kind, blocks, loose


def resolve_engine(*layers: tuple[str, Any]) -> dict[str, Any]:
    """The selected kind and its settings, from ``(where, block)`` layers (later layers override earlier ones).

    The kind is the last one a layer names. Its settings are its block of every layer merged, plus settings
    given next to ``kind`` in a layer that names this kind or none. Raises ``EngineSettingsError`` naming each
    key (``where`` prefixes it) for a missing kind, an unknown kind or setting, or a setting of the wrong type.
    """
    parsed = [(where, *_split(block, where)) for where, block in layers]
    kind = next((own for _, own, _, _ in reversed(parsed) if own is not None), None)
    if kind is None:
        raise EngineSettingsError([(_at(parsed[0][0], "kind"), f"required ({' or '.join(ENGINE_SETTINGS)})")])
    settings: dict[str, Any] = {}
    origin: dict[str, str] = {}  # setting -> where it was given, for messages
    problems: list[tuple[str, str]] = []
    for where, own, blocks, loose in parsed:
        for other, block in blocks.items():
            if other != kind:  # not used in this run: only the names are checked
                known = ENGINE_SETTINGS[other].model_fields
                problems += [_unknown_setting(_at(where, other), n, other) for n in block if n not in known]
        if loose and own not in (None, kind):  # a resolved block of another kind: replaced, names checked
            known = ENGINE_SETTINGS[own].model_fields
            problems += [_unknown_setting(where, n, own) for n in loose if n not in known]
        given, given_where = blocks.get(kind, {}), _at(where, kind)
        if loose and own in (None, kind):
            given, given_where = loose, where
        for name, value in given.items():
            settings[name], origin[name] = value, given_where
    resolved: dict[str, Any] = {}
    try:
        resolved = ENGINE_SETTINGS[kind].model_validate(settings).model_dump(exclude_unset=True)
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else ""
            where = origin.get(name, _at(parsed[-1][0], kind))
            if item["type"] == "extra_forbidden":
                problems.append(_unknown_setting(where, name, kind))
            else:
                problems.append((_at(where, *map(str, item["loc"])), f"{item['msg']} (the {kind} engine)"))
    if problems:
        raise EngineSettingsError(problems)
    if resolved.get("model", "") is None:
        del resolved["model"]  # vLLM: the pipeline's checkpoint
    return {"kind": kind, **resolved}
