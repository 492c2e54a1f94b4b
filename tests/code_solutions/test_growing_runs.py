"""Raising num_samples adds samples to those already generated, lowering it reuses a prefix; named runs pool."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from openmath_kedro.code_solutions import nodes
from openmath_kedro.params import GenerationParams

from .test_nodes import CHECKPOINT, NO_MASKS, params, problems


def _generate(table: pd.DataFrame, settings: GenerationParams, saved: dict) -> dict:
    jobs = nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, saved, settings)
    return {chunk_id: job() for chunk_id, job in jobs.items()}


def _merge(table: pd.DataFrame, settings: GenerationParams, saved: dict) -> pd.DataFrame:
    chunks = {chunk_id: (lambda frame=frame: frame) for chunk_id, frame in saved.items()}
    return nodes.merge_generations(chunks, table, NO_MASKS, CHECKPOINT, settings)


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="seconds").reset_index(drop=True)


def test_more_samples_generate_only_the_new_ones_and_match_a_fresh_run(engine):
    table = problems(3)
    saved = _generate(table, params(num_samples=2, chunk_size=2), {})
    requests_before = sum(len(batch) for batch in engine.batches)
    added = _generate(table, params(num_samples=5, chunk_size=2), saved)
    new_requests = sum(len(batch) for batch in engine.batches) - requests_before
    assert new_requests == 3 * 3  # samples 2, 3 and 4 of each problem, nothing else
    assert all(set(frame["sample_index"]) == {2, 3, 4} for frame in added.values())
    grown = _merge(table, params(num_samples=5, chunk_size=2), saved | added)

    fresh = _merge(
        table, params(num_samples=5, chunk_size=2), _generate(table, params(num_samples=5, chunk_size=2), {})
    )
    pd.testing.assert_frame_equal(_comparable(grown), _comparable(fresh), check_dtype=False)
    assert list(grown.groupby("problem_id", sort=False)["sample_index"].apply(list)) == [[0, 1, 2, 3, 4]] * 3


def test_fewer_samples_reuse_a_prefix_without_generating(engine):
    table = problems(2)
    saved = _generate(table, params(num_samples=4), {})
    assert nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, saved, params(num_samples=3)) == {}
    merged = _merge(table, params(num_samples=3), saved)
    assert sorted(merged["sample_index"].unique()) == [0, 1, 2] and len(merged) == 6


def test_merge_names_the_missing_samples_when_a_range_is_not_generated(engine):
    table = problems(2)
    saved = _generate(table, params(num_samples=2), {})
    try:
        _merge(table, params(num_samples=4), saved)
    except ValueError as error:
        assert "2 of 4 chunks are not generated yet" in str(error)
    else:
        raise AssertionError("merging without the new samples must fail")


# --- pooled runs ---------------------------------------------------------------------------------------

POOLED = {
    "plain": {},
    "hot": {"sampling": {"temperature": 1.0, "max_tokens": 32}, "benchmarks": {"gsm8k": {"num_samples": 3}}},
}


def test_named_runs_are_pooled_into_one_table_that_records_each_rows_run(engine):
    table = problems(2)
    settings = params(num_samples=2, runs=POOLED)
    saved = _generate(table, settings, {})
    assert len({chunk_id.split("/")[0] for chunk_id in saved}) == 2  # a run key per run
    merged = _merge(table, settings, saved)
    assert merged.groupby("generation_run").size().to_dict() == {"plain": 4, "hot": 6}
    assert not merged.duplicated(["problem_id", "sample_index"]).any()  # still the key downstream
    first = merged[merged["problem_id"] == "gsm8k/train/0"]
    assert first["sample_index"].tolist() == [0, 1, 2, 3, 4]
    assert first["run_sample_index"].tolist() == [0, 1, 0, 1, 2]
    assert set(first.loc[first["generation_run"] == "hot", "sampling"].map(lambda s: s["temperature"])) == {
        1.0
    }
    # one run alone is the same work: its chunks are reused
    alone = nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, saved, params(num_samples=2))
    assert alone == {}


def test_growing_one_run_leaves_the_other_alone(engine):
    table = problems(2)
    saved = _generate(table, params(num_samples=2, runs=POOLED), {})
    more = {**POOLED, "hot": {**POOLED["hot"], "benchmarks": {"gsm8k": {"num_samples": 4}}}}
    added = _generate(table, params(num_samples=2, runs=more), saved)
    assert {frame["sample_index"].tolist()[0] for frame in added.values()} == {3}
    assert len(added) == 2  # one new chunk per problem, for the grown run only


def test_runs_are_checked_when_the_run_starts():
    with pytest.raises(ValidationError, match=r"\['shard'\] are shared by every run"):
        params(runs={"x": {"shard": 1}})
    with pytest.raises(ValidationError, match=r"runs\.x\.sampling\.temperature"):
        params(runs={"x": {"sampling": {"temperature": -1}}})
    with pytest.raises(ValidationError, match=r"lowercase letters"):
        params(runs={"Hot Run": {}})
