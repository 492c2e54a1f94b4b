"""Raising num_samples adds samples to those already generated; lowering it reuses a prefix."""

from __future__ import annotations

import pandas as pd

from openmath_kedro.code_solutions import nodes

from .test_nodes import CHECKPOINT, NO_MASKS, params, problems


def _generate(table: pd.DataFrame, settings: dict, saved: dict) -> dict:
    jobs = nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, saved, settings)
    return {chunk_id: job() for chunk_id, job in jobs.items()}


def _merge(table: pd.DataFrame, settings: dict, saved: dict) -> pd.DataFrame:
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
