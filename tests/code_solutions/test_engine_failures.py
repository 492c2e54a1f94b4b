"""Samples the engine failed are not finished work: the generation node with the OpenAI engine against a
scripted OpenAI-compatible server that fails, then recovers, saving through the real chunk dataset."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner

from openmath_kedro.code_solutions import nodes
from openmath_kedro.code_solutions.pipeline import code_solutions_pipeline
from openmath_kedro.datasets import GenerationChunksDataset, ModelDirectory
from openmath_kedro.params import GenerationParams
from openmath_kedro.runs.resources import close_shared_resources
from tests.engines.fake_openai_server import FakeServer, completion_body, error_body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]  # the sandbox is real

CHECKPOINT = ModelDirectory(path=Path("/models/teacher"))
NO_MASKS = pd.DataFrame(columns=nodes.MASKED_COLUMNS)


class Switch:
    """The server's state: answers ``failure`` while ``failing(index)`` says so, a completion otherwise."""

    def __init__(self, failure: tuple[int, dict], failing) -> None:
        self.failure, self.failing = failure, failing
        self.recovered = threading.Event()

    def __call__(self, index: int, body: dict):
        if not self.recovered.is_set() and self.failing(index):
            return self.failure
        return 200, completion_body(f" {body['seed']} is \\boxed{{1}}.")


@pytest.fixture
def server() -> Iterator:
    servers: list[FakeServer] = []

    def start(failure: tuple[int, dict], failing) -> tuple[FakeServer, Switch]:
        switch = Switch(failure, failing)
        servers.append(FakeServer(switch))
        return servers[-1], switch

    yield start
    close_shared_resources()
    for fake in servers:
        fake.close()


def problems(count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"gsm8k/train/{i}" for i in range(count)],
            "benchmark": "gsm8k",
            "problem": [f"What is {i} + {i}?" for i in range(count)],
        }
    )


def params(url: str, **overrides) -> dict:
    return {
        # max_retries 0: each failing answer fails its sample at once, so counts are exact
        "engine": {
            "kind": "openai",
            "model": "m",
            "base_urls": [url],
            "max_retries": 0,
            "max_concurrency": 4,
        },
        "num_samples": 1,
        "sampling": {"temperature": 0.7, "max_tokens": 16},
        "use_chat_template": False,
        "interpreter": {"max_code_rounds": 1, "max_generated_tokens": 32},
        "chunk_size": 1,
        "batch_size": 8,
        "benchmarks": {"gsm8k": {"prompt": "code_fewshot", "examples": "gsm8k"}},
    } | overrides


def validated(settings: dict) -> GenerationParams:
    """The block as the nodes get it: Kedro validates it into the model their type hint names."""
    return GenerationParams.model_validate(settings)


def run(table: pd.DataFrame, settings: dict, folder: Path) -> None:
    """One run of the generate node, saved as the catalog saves it; the engine is a new one each run."""
    dataset = GenerationChunksDataset(path=str(folder))
    try:
        dataset.save(
            nodes.generate_solutions(table, NO_MASKS, CHECKPOINT, dataset.load(), validated(settings))
        )
    finally:
        close_shared_resources()


def merged(table: pd.DataFrame, settings: dict, folder: Path) -> pd.DataFrame:
    chunks = GenerationChunksDataset(path=str(folder)).load()
    return nodes.merge_generations(chunks, table, NO_MASKS, CHECKPOINT, validated(settings))


def files(folder: Path) -> tuple[int, int]:
    """(complete, unfinished) chunk files."""
    names = [path.name for path in folder.rglob("*.jsonl")]
    unfinished = sum(name.endswith(".unfinished.jsonl") for name in names)
    return len(names) - unfinished, unfinished


def test_a_server_down_fails_the_run_and_the_rerun_completes_it(server, tmp_path) -> None:
    # 8 chunks of one sample, 2 per batch: the first batch is served, then the server answers 503
    fake, switch = server((503, error_body("Service Unavailable: model loading", 503)), lambda i: i >= 2)
    table, settings = problems(8), params("", batch_size=2)
    settings["engine"]["base_urls"] = [fake.url]
    with pytest.raises(DatasetError) as caught:
        run(table, settings, tmp_path)
    message = str(caught.value)
    for part in (
        f"the OpenAI-compatible server {fake.url} (model m)",
        "failed 2 of 4 samples",
        "HTTP 503: Service Unavailable: model loading",
        "every sample of the last batch failed, so the run stopped there",
        "The 2 chunks this run finished are saved",
        "run the same command again",
    ):
        assert part in message, message
    assert len(fake.requests) == 4  # stopped after the failed batch, not after every remaining one
    assert files(tmp_path) == (2, 0)  # the finished batch is kept; the failed one was not saved as done

    switch.recovered.set()
    run(table, settings, tmp_path)
    assert len(fake.requests) == 4 + 6  # only what was missing
    assert files(tmp_path) == (8, 0)
    generations = merged(table, settings, tmp_path)
    assert len(generations) == 8 and generations["error"].isna().all()
    assert set(generations["finish_reason"]) == {"stop"}


def test_a_model_not_found_stops_the_run_at_once(server, tmp_path) -> None:
    fake, switch = server((404, error_body("The model `m` does not exist.", 404)), lambda i: True)
    table, settings = problems(4), params("")
    settings["engine"]["base_urls"] = [fake.url]
    with pytest.raises(
        DatasetError, match=r"does not serve model 'm' \(HTTP 404: The model `m` does not exist\.\)"
    ):
        run(table, settings, tmp_path)
    assert files(tmp_path) == (0, 0)

    switch.recovered.set()
    run(table, settings, tmp_path)
    assert files(tmp_path) == (4, 0)
    assert merged(table, settings, tmp_path)["error"].isna().all()


def test_failures_within_the_limit_pass_and_are_generated_again_next_run(server, tmp_path, caplog) -> None:
    fake, switch = server((503, error_body("busy", 503)), lambda i: i < 2)
    table = problems(8)
    settings = params("", max_engine_error_share=0.25)
    settings["engine"]["base_urls"] = [fake.url]
    with caplog.at_level(logging.WARNING, logger=nodes.__name__):
        run(table, settings, tmp_path)  # 2 of 8 failed: within the limit
    assert "the engine failed 2 of 8 samples (25%)" in caplog.text
    assert files(tmp_path) == (6, 2)
    first = merged(table, settings, tmp_path)
    assert (first["finish_reason"] == "error").sum() == 2  # the run's results show them, as errors

    with caplog.at_level(logging.INFO, logger=nodes.__name__):
        run(table, settings, tmp_path)  # the server is fine again (only its first 2 answers failed)
    assert "2 to generate (2 to complete: samples the engine failed)" in caplog.text
    assert len(fake.requests) == 8 + 2
    assert files(tmp_path) == (8, 0)
    second = merged(table, settings, tmp_path)
    assert second["error"].isna().all() and len(second) == 8
    # the samples that had been finished are the same rows as before
    done = first["finish_reason"] != "error"
    pd.testing.assert_frame_equal(second[done], first[done])


def run_pipeline(table: pd.DataFrame, settings: dict, folder: Path) -> pd.DataFrame:
    """The code_solutions pipeline (mask, generate, merge) with Kedro's runner; the merged generations."""
    catalog = DataCatalog(
        {
            "problems": MemoryDataset(table),
            "checkpoint": MemoryDataset(CHECKPOINT, copy_mode="assign"),
            "params:generation": MemoryDataset(validated(settings)),
            "chunks": GenerationChunksDataset(path=str(folder)),
            "completed_chunks": GenerationChunksDataset(path=str(folder)),
            "generations": MemoryDataset(),
        }
    )
    pipeline = code_solutions_pipeline(
        namespace=None, problems="problems", checkpoint="checkpoint", settings="params:generation"
    )
    try:
        SequentialRunner().run(pipeline, catalog)
    finally:
        close_shared_resources()
    return catalog.load("generations")


def test_failures_over_the_limit_fail_the_kedro_run_after_every_chunk_is_saved(server, tmp_path) -> None:
    fake, switch = server((503, error_body("busy", 503)), lambda i: i < 1)
    table, settings = problems(8), params("")  # the default limit: no failed sample
    settings["engine"]["base_urls"] = [fake.url]
    with pytest.raises(
        DatasetError, match=r"failed 1 of 8 samples .*max_engine_error_share 0\. The 7 chunks "
    ):
        run_pipeline(table, settings, tmp_path)
    assert files(tmp_path) == (7, 1)
    generations = run_pipeline(table, settings, tmp_path)
    assert files(tmp_path) == (8, 0) and len(fake.requests) == 9
    assert len(generations) == 8 and generations["error"].isna().all()


def test_only_the_failed_samples_of_a_chunk_are_generated_again(server, tmp_path) -> None:
    fake, switch = server((503, error_body("busy", 503)), lambda i: i == 0)
    table = problems(2)
    settings = params("", chunk_size=2, num_samples=3, max_engine_error_share=0.5)
    settings["engine"]["base_urls"] = [fake.url]
    run(table, settings, tmp_path)
    assert files(tmp_path) == (0, 1)
    run(table, settings, tmp_path)
    assert files(tmp_path) == (1, 0)
    assert len(fake.requests) == 6 + 1
    generations = merged(table, settings, tmp_path)
    assert generations["error"].isna().all()
    assert generations[["problem_id", "sample_index"]].values.tolist() == [
        [f"gsm8k/train/{p}", s] for p in range(2) for s in range(3)
    ]
    # each sample's text comes from its own seed, so the regenerated one is where it belongs
    for row in generations.itertuples():
        assert row.generation.startswith(f" {row.seed} is")


def test_a_refused_continuation_ends_its_solution_a_refused_first_request_is_an_engine_failure(
    server, tmp_path
) -> None:
    too_long = (400, error_body("This model's maximum context length is 2048 tokens.", 400))

    def respond(index: int, body: dict):
        prompt = body["prompt"]
        if prompt.rstrip().endswith("What is 1 + 1?"):
            return too_long  # problem 1: its prompt is refused, nothing the model did
        if "<llm-code-output>" in prompt.split("What is 0 + 0?")[-1]:
            return too_long  # problem 0's continuation after its code ran: the solution outgrew the context
        return 200, completion_body("<llm-code>\nprint(6 * 7)\n", stop_reason="</llm-code>")

    fake = FakeServer(respond)
    try:
        table, settings = problems(2), params(fake.url, max_engine_error_share=0.5)
        settings["engine"]["base_urls"] = [fake.url]
        settings["interpreter"]["max_code_rounds"] = 2
        run(table, settings, tmp_path)
    finally:
        fake.close()
    assert files(tmp_path) == (1, 1)  # problem 0's chunk is finished, problem 1's is not
    rows = merged(table, settings, tmp_path).set_index("problem_id")
    solved, refused = rows.loc["gsm8k/train/0"], rows.loc["gsm8k/train/1"]
    assert solved["finish_reason"] == "length" and solved["num_code_calls"] == 1
    assert "maximum context length" in solved["error"] and "42" in solved["generation"]
    assert refused["finish_reason"] == "error" and "maximum context length" in refused["error"]
