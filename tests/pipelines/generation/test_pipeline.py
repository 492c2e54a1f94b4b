"""generation on the real vLLM engine and sandbox with the embedded model, run as `kedro run` processes.

One project copy goes through: a run killed with kill -9 after its first chunk, the resumed run, the records
it produced, and a re-run that must do no work. A second copy is generated in two shards and then merged.
Grading and filtering of real generations are checked on the whole recipe's run: tests/test_recipe.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from openmath_kedro.datasets import JSONLinesDataset
from tests.conftest import make_project_copy

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
RECORD_FIELDS = {
    "problem_id", "sample_index", "seed", "model", "engine", "prompt_name", "prompt_hash", "sampling",
    "generation", "num_code_calls", "finish_reason", "tokens_in", "tokens_out", "seconds",
}  # fmt: skip


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


def chunk_files(root: Path) -> dict[str, tuple[int, bytes]]:
    folder = root / "data" / "07_model_output" / "generation" / "gsm8k" / "chunks"
    return {
        str(f.relative_to(folder)): (f.stat().st_mtime_ns, f.read_bytes())
        for f in folder.rglob("*.jsonl")
        if not f.name.startswith(".")
    }


def generations(root: Path) -> pd.DataFrame:
    path = root / "data" / "07_model_output" / "generation" / "gsm8k" / "generations.jsonl"
    return JSONLinesDataset(filepath=str(path)).load()


@pytest.fixture(scope="module")
def project(tmp_path_factory, shared_datasets, embedded_checkpoint_dir) -> Path:
    return make_project(
        tmp_path_factory.mktemp("generation") / "project", shared_datasets, embedded_checkpoint_dir
    )


@pytest.fixture(scope="module")
def resumed(project: Path) -> dict:
    """Kill -9 a run after its first chunk, then run again to the end."""
    process = subprocess.Popen(
        [KEDRO, "run", "--pipelines", "generation", "--nodes", GSM8K_NODES, "--params", SMALL],
        cwd=project,
        env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 400
    while not chunk_files(project) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the run, its engine core and its sandbox workers
    process.wait()
    before = chunk_files(project)
    assert 1 <= len(before) < 3, f"expected the run to be killed mid-way, found {len(before)} chunks"
    kedro(project, "--pipelines", "generation", "--nodes", GSM8K_NODES)
    return {"before": before, "after": chunk_files(project)}


def test_resume_after_kill_loses_and_duplicates_nothing(resumed, project):
    before, after = resumed["before"], resumed["after"]
    assert len(after) == 3
    for name, (mtime, content) in before.items():
        assert after[name] == (mtime, content), f"chunk {name} was written again"
    table = generations(project)
    assert len(table) == 6
    assert not table.duplicated(["problem_id", "sample_index"]).any()
    assert sorted(table["problem_id"].unique()) == ["gsm8k/train/0", "gsm8k/train/1", "gsm8k/train/2"]


def test_records_have_every_field(resumed, project):
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


def test_rerun_with_unchanged_inputs_does_no_generation(resumed, project):
    before = chunk_files(project)
    result = kedro(project, "--pipelines", "generation", "--nodes", GSM8K_NODES)
    log = result.stdout + result.stderr
    assert "0 to generate" in log
    assert "starting the vllm engine" not in log
    assert chunk_files(project) == before


def test_sharded_run_equals_the_unsharded_run(tmp_path, shared_datasets, embedded_checkpoint_dir):
    # Greedy: vLLM on CPU cannot seed single requests (engines/README.md), so sampled text depends on what
    # else is in the batch; on CUDA per-request seeds make sampled shards reproducible too.
    root = make_project(tmp_path / "project", shared_datasets, embedded_checkpoint_dir)
    kedro(root, "--pipelines", "generation", "--nodes", GSM8K_NODES, params=GREEDY)
    unsharded = generations(root)
    shutil.rmtree(root / "data/07_model_output/generation/gsm8k")

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
    same = [
        "problem_id",
        "sample_index",
        "seed",
        "generation",
        "num_code_calls",
        "finish_reason",
        "tokens_out",
    ]
    pd.testing.assert_frame_equal(sharded[same], unsharded[same])


def test_more_samples_add_chunks_and_make_everything_downstream_again(resumed, project):
    """Raising num_samples generates only the new samples; merged and graded tables carry them and a new key."""
    import json

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
