"""generation on the real vLLM engine and sandbox with the embedded model, run as `kedro run` processes.

A sampled project: one run, the records it produced, a re-run that must do no work, and more samples added
later. A greedy project: one uninterrupted run is the reference; a run killed with kill -9 right after its
first chunk is saved (by the chunk dataset itself, so the kill point does not depend on timing) and then
resumed, and a run in two shards then merged, must each give the reference's table. Greedy because vLLM on
CPU cannot seed single requests (engines/README.md): sampled text depends on what the engine sampled
before, so only greedy text is the same across runs. Grading and filtering of real generations are checked
on the whole recipe's run: tests/test_recipe.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from openmath_kedro.datasets import JSONLinesDataset
from tests.conftest import PROJECT_ROOT, make_project_copy
from tests.pipelines.generation.kill_after_chunks import KillAfterChunksDataset

pytestmark = pytest.mark.integration

KEDRO = str(Path(sys.executable).with_name("kedro"))
SMALL = (
    "generation.chunk_size=1,generation.num_samples=2,generation.benchmarks.gsm8k.max_problems=3,"
    "generation.benchmarks.gsm8k.prompt=code_fewshot,"
    "generation.sampling.max_tokens=96,generation.interpreter.max_generated_tokens=128,"
    "generation.engine.vllm.max_model_len=3072,generation.batch_size=2,"
    # started inside a print call, so the 135M model's solutions run code in the sandbox (most close the
    # block there; prose after a bare "<llm-code>" is what it writes more often)
    'generation.benchmarks.gsm8k.solution_prefix="<llm-code>\\nprint("'
)
GREEDY = SMALL + ",generation.sampling.temperature=0"
GSM8K_NODES = "generation.gsm8k.mask,generation.gsm8k.generate,generation.gsm8k.merge"
GENERATION_OUTPUT = Path("data/07_model_output/generation/gsm8k")
RECORD_FIELDS = {
    "problem_id", "sample_index", "seed", "model", "engine", "prompt_name", "prompt_hash", "sampling",
    "generation", "num_code_calls", "finish_reason", "tokens_in", "tokens_out", "seconds",
}  # fmt: skip
SAME_IN_EVERY_RUN = sorted(RECORD_FIELDS - {"seconds"})  # of a greedy run: everything but the wall time


def make_project(root: Path, shared_datasets: Path, checkpoint: Path) -> Path:
    make_project_copy(root, local_globals=f"raw_data_mirrors:\n  - {shared_datasets}\n")
    (root / "data" / "06_models").mkdir(parents=True)
    (root / "data" / "06_models" / "teacher").symlink_to(checkpoint)
    kedro(root, "--pipelines", "data_preparation", "--namespaces", "data_preparation.gsm8k")
    return root


def kedro(root: Path, *arguments: str, params: str = SMALL) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [KEDRO, "run", *arguments, "--params", params],
        cwd=root,
        capture_output=True,
        text=True,
        env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def run_killed_after(root: Path, *, chunks: int, params: str) -> tuple[int, str]:
    """A generation run that kill -9s its own process group just before it computes chunk ``chunks + 1``.

    The kill comes from inside the run (KillAfterChunksDataset in place of the chunks dataset, through a
    catalog entry in conf/local), so exactly ``chunks`` chunks are on disk when it dies. Returns the exit
    status and the run's log.
    """
    dataset_type = f"{KillAfterChunksDataset.__module__}.{KillAfterChunksDataset.__qualname__}"
    override = root / "conf" / "local" / "catalog_kill_after_chunks.yml"
    override.write_text(
        f"generation.gsm8k.chunks:\n  type: {dataset_type}\n  path: {GENERATION_OUTPUT / 'chunks'}\n"
        f"  kill_after: {chunks}\n"
    )
    log_path = root / "killed_run.log"
    # the run imports the dataset from this checkout's tests package
    python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    try:
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [KEDRO, "run", "--pipelines", "generation", "--nodes", GSM8K_NODES, "--params", params],
                cwd=root,
                env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "PYTHONPATH": python_path},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the dataset kills this group: the run, its engine core, its sandbox
            )
            try:
                returncode = process.wait(timeout=600)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # what is left, if the kill never came
    finally:
        override.unlink()
    return returncode, log_path.read_text()


def chunk_files(root: Path) -> dict[str, tuple[int, bytes]]:
    folder = root / GENERATION_OUTPUT / "chunks"
    return {
        str(f.relative_to(folder)): (f.stat().st_mtime_ns, f.read_bytes())
        for f in folder.rglob("*.jsonl")
        if not f.name.startswith(".")
    }


def generations(root: Path) -> pd.DataFrame:
    return JSONLinesDataset(filepath=str(root / GENERATION_OUTPUT / "generations.jsonl")).load()


@pytest.fixture(scope="module")
def project(tmp_path_factory, shared_datasets, embedded_checkpoint_dir) -> Path:
    """A project with one sampled generation run."""
    root = make_project(
        tmp_path_factory.mktemp("generation") / "project", shared_datasets, embedded_checkpoint_dir
    )
    kedro(root, "--pipelines", "generation", "--nodes", GSM8K_NODES)
    return root


@pytest.fixture(scope="module")
def greedy_project(tmp_path_factory, shared_datasets, embedded_checkpoint_dir) -> Path:
    return make_project(
        tmp_path_factory.mktemp("greedy") / "project", shared_datasets, embedded_checkpoint_dir
    )


@pytest.fixture(scope="module")
def reference(greedy_project: Path) -> pd.DataFrame:
    """The generations of one uninterrupted greedy run."""
    kedro(greedy_project, "--pipelines", "generation", "--nodes", GSM8K_NODES, params=GREEDY)
    return generations(greedy_project)


@pytest.fixture
def without_generations(greedy_project: Path, reference: pd.DataFrame) -> Path:
    """The greedy project with no generation output (the reference's table is kept in memory)."""
    shutil.rmtree(greedy_project / GENERATION_OUTPUT)
    return greedy_project


def test_a_run_killed_after_its_first_chunk_resumes_with_the_missing_chunks_only(
    without_generations: Path, reference: pd.DataFrame
) -> None:
    root = without_generations
    returncode, log = run_killed_after(root, chunks=1, params=GREEDY)
    assert returncode == -signal.SIGKILL, log[-4000:]  # killed at the planned point, not finished or failed
    at_kill = chunk_files(root)
    assert len(at_kill) == 1, sorted(at_kill)
    (name,) = at_kill
    first_chunk = JSONLinesDataset(filepath=str(root / GENERATION_OUTPUT / "chunks" / name)).load()
    first_problem = reference[reference["problem_id"] == reference["problem_id"].iloc[0]]
    pd.testing.assert_frame_equal(
        first_chunk[SAME_IN_EVERY_RUN],
        first_problem[SAME_IN_EVERY_RUN].reset_index(drop=True),
        check_dtype=False,
    )  # the first problem's two samples (chunk_size 1), complete

    resumed = kedro(root, "--pipelines", "generation", "--nodes", GSM8K_NODES, params=GREEDY)
    assert "1 already done, 2 to generate" in resumed.stdout + resumed.stderr
    after = chunk_files(root)
    assert after[name] == at_kill[name], "the chunk saved before the kill was written again"
    assert len(after) == 3
    table = generations(root)
    assert len(table) == 6 and not table.duplicated(["problem_id", "sample_index"]).any()
    pd.testing.assert_frame_equal(table[SAME_IN_EVERY_RUN], reference[SAME_IN_EVERY_RUN])


def test_records_have_every_field(project):
    table = generations(project)
    assert RECORD_FIELDS <= set(table.columns)
    record = table.iloc[0]
    assert record["engine"] == "vllm" and record["model"].endswith("teacher")
    assert record["prompt_name"] == "code_fewshot" and len(record["prompt_hash"]) >= 8
    assert record["sampling"]["temperature"] == 0.7
    assert table["seed"].nunique() == 6  # one seed per sample
    assert (table["tokens_in"] > 500).all()  # the few-shot prompt
    assert (table["tokens_out"] > 0).all() and (table["tokens_out"] <= 128).all()
    assert set(table["finish_reason"]) <= {"stop", "length", "code_error", "max_code_rounds", "broken_code"}
    assert table["generation"].str.startswith("<llm-code>\nprint(").all()
    ran_code = table[table["num_code_calls"] > 0]
    assert len(ran_code) >= 1, table["generation"].tolist()
    for text in ran_code["generation"]:
        assert "</llm-code>\n<llm-code-output>\n" in text and "\n</llm-code-output>\n" in text


def test_rerun_with_unchanged_inputs_does_no_generation(project):
    before = chunk_files(project)
    result = kedro(project, "--pipelines", "generation", "--nodes", GSM8K_NODES)
    log = result.stdout + result.stderr
    assert "0 to generate" in log
    assert "starting the vllm engine" not in log
    assert chunk_files(project) == before


def test_sharded_run_equals_the_unsharded_run(without_generations: Path, reference: pd.DataFrame) -> None:
    # Greedy: on CUDA per-request seeds make sampled shards reproducible too.
    root = without_generations

    def shard(index: int) -> None:
        kedro(
            root, "--pipelines", "generation", "--nodes", "generation.gsm8k.generate",
            params=GREEDY + f",generation.shard={index},generation.num_shards=2",
        )  # fmt: skip

    shard(0)
    assert len(chunk_files(root)) == 2  # chunks 0 and 2
    failed = subprocess.run(
        [KEDRO, "run", "--pipelines", "generation", "--nodes", "generation.gsm8k.merge", "--params", GREEDY],
        cwd=root, capture_output=True, text=True, env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert (
        failed.returncode != 0
        and "1 of 3 chunks are not generated yet (chunk indices [1]" in failed.stdout + failed.stderr
    )
    shard(1)
    kedro(root, "--pipelines", "generation", "--nodes", "generation.gsm8k.merge", params=GREEDY)
    sharded = generations(root)
    assert len(sharded) == 6 and sharded.groupby("problem_id").size().tolist() == [2, 2, 2]
    pd.testing.assert_frame_equal(sharded[SAME_IN_EVERY_RUN], reference[SAME_IN_EVERY_RUN])


def test_more_samples_add_chunks_and_make_everything_downstream_again(project):
    """Raising num_samples generates only the new samples; merged and graded tables carry them and a new key."""

    def record(name: str) -> str:
        return json.loads((project / "data/.provenance" / f"{name}.json").read_text())["key"]

    kedro(project, "--pipelines", "generation", "--namespaces", "generation.gsm8k", "--only-missing-outputs")
    kedro(project, "--pipelines", "grading", "--namespaces", "grading.gsm8k", "--only-missing-outputs")
    before_chunks = chunk_files(project)
    before = {
        name: record(name) for name in ("generation.gsm8k.generations", "grading.gsm8k.graded_generations")
    }

    more = SMALL.replace("generation.num_samples=2", "generation.num_samples=3")
    run = kedro(
        project,
        "--pipelines",
        "generation",
        "--namespaces",
        "generation.gsm8k",
        "--only-missing-outputs",
        params=more,
    )
    assert "3 to generate" in run.stdout + run.stderr  # one new chunk per problem (chunk_size 1)
    kedro(
        project,
        "--pipelines",
        "grading",
        "--namespaces",
        "grading.gsm8k",
        "--only-missing-outputs",
        params=more,
    )
    after_chunks = chunk_files(project)
    assert {name: after_chunks[name] for name in before_chunks} == before_chunks  # nothing generated again
    assert len(after_chunks) == len(before_chunks) + 3
    merged = generations(project)
    assert merged.groupby("problem_id")["sample_index"].apply(sorted).tolist() == [[0, 1, 2]] * 3
    graded = JSONLinesDataset(
        filepath=str(project / "data/07_model_output/grading/gsm8k/graded_generations.jsonl")
    ).load()
    assert len(graded) == 9
    assert all(record(name) != key for name, key in before.items())
