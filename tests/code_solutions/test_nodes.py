"""The generation nodes with an engine double that answers from the prompt and seed, and the real sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from openmath_kedro.code_solutions import nodes
from openmath_kedro.datasets import ModelDirectory
from openmath_kedro.params import GenerationParams
from openmath_kedro.prompts import MATH_SUBJECT_SETS, load_prompt

pytestmark = pytest.mark.integration  # the sandbox is real


CHECKPOINT = ModelDirectory(path=Path("/models/teacher"))


def problems(count: int, benchmark: str = "gsm8k", subjects: Sequence[str] = ()) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"{benchmark}/train/{i}" for i in range(count)],
            "benchmark": benchmark,
            "problem": [f"What is {i} + {i}?" for i in range(count)],
            "expected_answer": [str(2 * i + 40) for i in range(count)],
            "reference_solution": [
                f"{i} + {i} = {2 * i + 40}, so \\boxed{{{2 * i + 40}}}." for i in range(count)
            ],
            "metadata": [{"subject": subjects[i % len(subjects)]} if subjects else {} for i in range(count)],
        }
    )


def params(**overrides) -> GenerationParams:
    """A generation block with ``overrides``, validated: the model Kedro hands the nodes (type hints)."""
    base = {
        "engine": {"kind": "vllm", "model": "/models/teacher"},
        "num_samples": 2,
        "sampling": {"temperature": 0.7, "max_tokens": 32},
        "use_chat_template": False,
        "interpreter": {"max_code_rounds": 1, "max_generated_tokens": 64},
        "chunk_size": 1,
        "batch_size": 64,
        "benchmarks": {"gsm8k": {"prompt": "code_fewshot", "examples": "gsm8k"}},
    }
    return GenerationParams.model_validate(base | overrides)


NO_MASKS = pd.DataFrame(columns=nodes.MASKED_COLUMNS)


def generate(
    table: pd.DataFrame, settings: GenerationParams, masked: pd.DataFrame = NO_MASKS
) -> dict[str, pd.DataFrame]:
    """Run the node and save its chunks the way the chunk dataset does: one after another."""
    jobs = nodes.generate_solutions(table, masked, CHECKPOINT, {}, settings)
    return {chunk_id: job() for chunk_id, job in jobs.items()}


def test_small_chunks_are_generated_in_full_batches(engine):
    chunks = generate(problems(6), params(batch_size=8))
    assert len(chunks) == 6  # one chunk per problem (chunk_size 1) ...
    assert [len(batch) for batch in engine.batches] == [8, 4]  # ... 4 chunks of 2 samples per engine batch
    assert all(len(table) == 2 for table in chunks.values())


def test_batch_size_smaller_than_a_chunk_still_generates_whole_chunks(engine):
    generate(problems(3), params(batch_size=1, chunk_size=2))
    assert [len(batch) for batch in engine.batches] == [4, 2]


def test_sharded_chunks_equal_the_unsharded_ones(engine):
    table = problems(5)
    whole = generate(table, params())
    shards = {}
    for shard in range(3):
        shards |= generate(table, params(shard=shard, num_shards=3))
    assert shards.keys() == whole.keys()
    for chunk_id, chunk in whole.items():
        pd.testing.assert_frame_equal(
            chunk.drop(columns="seconds"), shards[chunk_id].drop(columns="seconds"), check_dtype=False
        )


def test_chunks_on_disk_are_not_generated_again(engine):
    table = problems(4)
    first = generate(table, params())
    done = dict(list(first.items())[:3])
    jobs = nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, done, params())
    assert list(jobs) == [list(first)[3]]


def test_solution_prefix_starts_every_generation(engine):
    settings = params(
        benchmarks={
            "gsm8k": {"prompt": "code_fewshot", "examples": "gsm8k", "solution_prefix": "Let me see."}
        }
    )
    table = pd.concat(generate(problems(2), settings).values())
    assert table["generation"].str.startswith("Let me see. answer ").all()
    # a different prefix is a different run: no chunk is reused
    assert set(generate(problems(2), params())).isdisjoint(generate(problems(2), settings))


def test_math_by_subject_uses_each_subjects_examples(engine):
    subjects = ["Geometry", "Number Theory"]
    settings = params(benchmarks={"math": {"prompt": "code_fewshot", "examples": "by_subject"}})
    table = pd.concat(generate(problems(4, "math", subjects), settings).values())
    expected = {
        f"math/train/{i}": load_prompt(
            "code_fewshot", examples=MATH_SUBJECT_SETS[subjects[i % 2]]
        ).content_hash
        for i in range(4)
    }
    assert dict(zip(table["problem_id"], table["prompt_hash"], strict=True)) == expected
    assert len(set(expected.values())) == 2


def test_math_by_subject_names_a_problem_without_a_known_subject(engine):
    settings = params(benchmarks={"math": {"prompt": "code_fewshot", "examples": "by_subject"}})
    with pytest.raises(ValueError, match=r"problem math/train/0 has metadata.subject 'Poetry'"):
        generate(problems(1, "math", ["Poetry"]), settings)


MASKED_PROMPT = {"gsm8k": {"prompt": "code_masked_reference_solution", "examples": "gsm8k"}}


def test_masking_keeps_model_text_that_hides_the_answer(engine):
    engine.mask_reply = "Add the two numbers: N + N = M."
    masked = nodes.mask_reference_solutions(problems(2), CHECKPOINT, params(benchmarks=MASKED_PROMPT))
    assert masked["masked_solution"].tolist() == ["Add the two numbers: N + N = M."] * 2
    assert masked["masked_by"].tolist() == ["model", "model"]
    assert all(batch[0].sampling.temperature == 0.0 for batch in engine.batches)


def test_masking_falls_back_to_the_heuristic_when_the_model_gives_the_answer_away(engine):
    engine.mask_reply = "0 + 0 = 40, so the answer is 40."
    masked = nodes.mask_reference_solutions(problems(1), CHECKPOINT, params(benchmarks=MASKED_PROMPT))
    assert masked["masked_by"].tolist() == ["heuristic"]
    assert bool(masked["model_output_leaked"].iloc[0])
    assert (
        "40" not in masked["masked_solution"].iloc[0] and "\\boxed" not in masked["masked_solution"].iloc[0]
    )


def test_masked_solutions_reach_the_generation_prompt(engine):
    engine.mask_reply = "Add them: N + N = M."
    settings = params(benchmarks=MASKED_PROMPT)
    masked = nodes.mask_reference_solutions(problems(1), CHECKPOINT, settings)
    generate(problems(1), settings, masked)
    generation_prompt = engine.batches[-1][0].prompt
    assert "Add them: N + N = M." in generation_prompt and "What is 0 + 0?" in generation_prompt


def test_prompts_without_masks_mask_nothing_and_start_no_engine(engine):
    masked = nodes.mask_reference_solutions(problems(3), CHECKPOINT, params())
    assert masked.empty and list(masked.columns) == nodes.MASKED_COLUMNS
    assert engine.batches == []


def test_masking_needs_reference_solutions(engine):
    table = problems(2).assign(reference_solution=[None, "x"])
    with pytest.raises(ValueError, match=r"1 problems have no reference_solution, e.g. gsm8k/train/0"):
        nodes.mask_reference_solutions(table, CHECKPOINT, params(benchmarks=MASKED_PROMPT))


def test_run_key_changes_with_what_is_generated():
    base = params()
    prompts = [load_prompt("code_fewshot", examples="gsm8k")]

    def key(settings: GenerationParams, model: str = "m", with_prompts=prompts) -> str:
        return nodes.run_key(
            settings=settings,
            benchmark="gsm8k",
            model=model,
            prompts=with_prompts,
        )

    assert key(base) == key(params())
    assert key(base) != key(params(sampling={"temperature": 1.0, "max_tokens": 32}))
    assert key(base) != key(base, model="other")
    assert key(base) != key(base, with_prompts=[load_prompt("code_fewshot", examples="math_general")])
    assert key(base) == key(params(num_samples=3))  # sample i is the same whatever the count
    assert key(base) == key(params(batch_size=7, shard=1, num_shards=2))  # how, not what, is generated


def test_a_prompt_longer_than_the_context_is_an_error_before_any_generation(engine, monkeypatch):
    """An engine that counts tokens (in-process vLLM) has every pending prompt checked before the first batch."""
    engine.max_model_len = 64
    engine.count_tokens = lambda text: len(text.split())  # the few-shot prompt is hundreds of words
    table = problems(3)
    with pytest.raises(
        ValueError,
        match=r"gsm8k: 3 prompts do not fit the context of /models/teacher \(64 tokens\), the longest is problem gsm8k/train/\d",
    ):
        nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, {}, params())
    assert engine.batches == []
    engine.max_model_len = 100_000
    assert len(generate(table, params())) == 3


def test_the_context_check_reads_the_length_the_engine_knows_once_started(engine):
    """Without max_model_len in the settings, vLLM's context length is known only after it started."""
    engine.max_model_len = None
    engine.count_tokens = lambda text: len(text.split())
    engine.start = lambda: setattr(engine, "max_model_len", 64)
    with pytest.raises(ValueError, match=r"do not fit the context of /models/teacher \(64 tokens\)"):
        nodes.generate_solutions(problems(1), NO_MASKS, CHECKPOINT, {}, params())
