"""The generation run key names the model by its content, so a moved project reuses its chunks."""

from __future__ import annotations

import shutil
from pathlib import Path

from openmath_kedro.code_solutions import nodes
from openmath_kedro.datasets import ModelDirectory
from openmath_kedro.params import GenerationParams

SETTINGS = GenerationParams.model_validate(
    {
        "engine": {"kind": "vllm"},
        "num_samples": 2,
        "benchmarks": {"gsm8k": {"prompt": "code_fewshot", "examples": "gsm8k"}},
    }
)


def _checkpoint(directory: Path, weights: bytes) -> ModelDirectory:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text('{"model_type": "llama"}')
    (directory / "model.safetensors").write_bytes(weights)
    return ModelDirectory(path=directory)


def _key(checkpoint: ModelDirectory, settings: GenerationParams = SETTINGS) -> str:
    return nodes._GenerationContext.create(settings=settings, benchmark="gsm8k", checkpoint=checkpoint).key


def test_the_same_weights_at_another_path_give_the_same_run_key(tmp_path):
    original = _checkpoint(tmp_path / "project" / "data" / "teacher", b"weights")
    moved = tmp_path / "moved" / "data" / "teacher"
    shutil.copytree(original.path, moved)
    assert _key(original) == _key(ModelDirectory(path=moved))


def test_other_weights_at_the_same_path_give_another_run_key(tmp_path):
    checkpoint = _checkpoint(tmp_path / "teacher", b"weights, first teacher")
    first = _key(checkpoint)
    (checkpoint.path / "model.safetensors").write_bytes(b"weights, second teacher")
    assert _key(checkpoint) != first


def test_a_served_model_is_named_by_the_engine_settings(tmp_path):
    checkpoint = _checkpoint(tmp_path / "teacher", b"weights")
    served = SETTINGS.model_copy(update={"engine": {"kind": "openai", "model": "teacher-70b"}})
    other = SETTINGS.model_copy(update={"engine": {"kind": "openai", "model": "teacher-8b"}})
    assert _key(checkpoint, served) != _key(checkpoint, other)


def test_a_new_masking_scheme_re_keys_only_runs_that_show_masked_solutions(tmp_path, monkeypatch):
    checkpoint = _checkpoint(tmp_path / "teacher", b"weights")
    masked = SETTINGS.model_copy(
        update={"benchmarks": {"gsm8k": SETTINGS.benchmarks["gsm8k"].model_copy(
            update={"prompt": "code_masked_reference_solution"})}}  # fmt: skip
    )
    before = {"plain": _key(checkpoint), "masked": _key(checkpoint, masked)}
    monkeypatch.setattr(nodes, "MASKING_SCHEME", nodes.MASKING_SCHEME + 1)
    assert _key(checkpoint) == before["plain"]
    assert _key(checkpoint, masked) != before["masked"]
