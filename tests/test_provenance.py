"""Run provenance: expected keys follow every change downstream and nothing else; stale outputs re-run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline, node, pipeline

from openmath_kedro.params import PARAMETER_MODELS, GenerationParams
from openmath_kedro.runs.outputs import describe_outputs
from openmath_kedro.runs.provenance import (
    STORE_DIR,
    KeyedDataCatalog,
    ProvenanceStore,
    expected_keys,
    is_persisted,
    parameter_key,
    record_for,
    source_key,
)

from .conftest import kedro_session, make_project_copy


def _double(value: int, factor: int) -> int:
    return value * factor


def _plus_one(value: int) -> int:
    return value + 1


TOY = pipeline(
    [
        node(_double, ["raw", "params:a"], "first", name="first"),
        node(_plus_one, "first", "second", name="second"),
        node(_double, ["raw", "params:b"], "other", name="other"),
    ]
)


def _toy_keys(params: dict[str, int], *, running: Pipeline = TOY, recorded: dict[str, str] | None = None):
    return expected_keys(
        graph=TOY,
        running=running,
        source_key=lambda name: parameter_key(name, params[name]) if name in params else f"source:{name}",
        recorded_key=(recorded or {}).get,
    )


# --- the key graph -------------------------------------------------------------------------------------


def test_a_parameter_change_changes_the_keys_downstream_of_it_and_nothing_else():
    before = _toy_keys({"params:a": 2, "params:b": 3})
    after = _toy_keys({"params:a": 5, "params:b": 3})
    assert {name for name in before if before[name] != after[name]} == {"params:a", "first", "second"}


def test_keys_are_stable_across_calls_and_distinct_per_output():
    params = {"params:a": 2, "params:b": 3}
    assert _toy_keys(params) == _toy_keys(params)
    keys = _toy_keys(params)
    assert len({keys["first"], keys["second"], keys["other"]}) == 3


def test_a_partial_run_builds_on_the_recorded_keys_of_inputs_made_outside_it():
    params = {"params:a": 2, "params:b": 3}
    only_second = TOY.filter(node_names=["second"])
    recorded = {"first": "what-is-on-disk"}
    keys = _toy_keys(params, running=only_second, recorded=recorded)
    assert keys["first"] == "what-is-on-disk"
    assert keys["second"] != _toy_keys(params)["second"]
    # without a record the expected key stands in
    assert _toy_keys(params, running=only_second)["first"] == _toy_keys(params)["first"]


def test_execution_only_parameters_do_not_change_keys():
    base = {"num_samples": 4, "batch_size": 64, "shard": 0, "num_shards": 1}
    assert parameter_key("params:generation", base) == parameter_key(
        "params:generation", base | {"batch_size": 8, "shard": 1, "num_shards": 2}
    )
    assert parameter_key("params:generation", base) != parameter_key(
        "params:generation", base | {"num_samples": 5}
    )


def _base_block(name: str) -> dict:
    import yaml

    return yaml.safe_load(
        (Path(__file__).parents[1] / "conf" / "base" / f"parameters_{name}.yml").read_text()
    )[name]


@pytest.mark.parametrize("block", ["generation", "evaluation", "filtering", "finetuning"])
def test_a_block_has_one_key_whether_it_arrives_as_a_mapping_or_as_its_model(block):
    """Kedro builds models only for the pipelines a run validates; a whole-graph key sees either form."""
    raw = _base_block(block)
    model = PARAMETER_MODELS[block].model_validate(raw)
    assert parameter_key(f"params:{block}", raw) == parameter_key(f"params:{block}", model)
    # the less strict model the code_solutions nodes hint gives the same key as generation's own
    if block == "generation":
        assert parameter_key("params:generation", GenerationParams.model_validate(raw)) == parameter_key(
            "params:generation", raw
        )
        entry = raw["benchmarks"]["math"]
        assert parameter_key("params:generation.benchmarks.math", entry) == parameter_key(
            "params:generation.benchmarks.math", model.benchmarks["math"]
        )


def test_execution_only_parameters_of_a_model_do_not_change_keys():
    raw = _base_block("generation")
    model = GenerationParams.model_validate(raw)
    shifted = model.model_copy(update={"batch_size": 8, "max_engine_error_share": 0.5})
    assert parameter_key("params:generation", shifted) == parameter_key("params:generation", raw)
    assert parameter_key("params:generation", raw | {"seed": raw.get("seed", 0) + 1}) != parameter_key(
        "params:generation", model
    )
    assert raw["seed"] == GenerationParams.model_fields["seed"].default  # left out, it is the same parameter
    without_default = {key: value for key, value in raw.items() if key != "seed"}
    assert parameter_key("params:generation", without_default) == parameter_key("params:generation", raw)


def test_the_store_round_trips_records_and_the_catalog_hides_stale_outputs(tmp_path):
    store = ProvenanceStore(tmp_path / "records")
    assert store.key("out") is None
    store.write("out", {"key": "k1", "node": "n"})
    assert store.read("out")["node"] == "n"
    catalog = KeyedDataCatalog(datasets={"out": _ExistingDataset()})
    assert catalog.exists("out")  # no expected keys installed: plain Kedro behaviour
    catalog.expect_keys({"out": "k1"}, store)
    assert catalog.exists("out") and not catalog.is_stale("out")
    catalog.expect_keys({"out": "k2"}, store)
    assert not catalog.exists("out") and catalog.is_stale("out")
    assert not is_persisted(catalog, "params:x")


class _ExistingDataset(MemoryDataset):
    def _exists(self) -> bool:
        return True


def test_records_carry_what_an_output_was_actually_made_from():
    params = {"params:a": 2, "params:b": 3}
    expected = _toy_keys(params)
    first, second = (next(n for n in TOY.nodes if n.name == name) for name in ("first", "second"))
    complete = pd.DataFrame({"finish_reason": ["stop", "length"]})
    failed = pd.DataFrame({"finish_reason": ["stop", "error"]})

    def record(node, output, data, recorded=None):
        return record_for(
            node=node, output=output, data=data, expected=expected, recorded_key=(recorded or {}).get
        )

    assert record(first, "first", complete)["key"] == expected["first"]
    # samples the engine failed: the record can never match, so the next run makes it again
    unfinished = record(first, "first", failed)
    assert unfinished["key"] != expected["first"] and not unfinished["complete"]
    # ... and what is made from it inherits that, so it is made again too once the input is complete
    downstream = record(second, "second", 3, recorded={"first": unfinished["key"]})
    assert downstream["key"] != expected["second"]
    assert record(second, "second", 3, recorded={"first": expected["first"]})["key"] == expected["second"]


# --- the project's own graph ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory, shared_datasets) -> tuple[Path, Path]:
    """A project whose teacher is a local directory (files only: keys need no real model)."""
    teacher = tmp_path_factory.mktemp("teacher")
    (teacher / "config.json").write_text('{"model_type": "llama"}')
    (teacher / "model.safetensors").write_bytes(b"weights, version 1")
    root = tmp_path_factory.mktemp("provenance") / "project"
    make_project_copy(
        root, local_globals=f"raw_data_mirrors: [{shared_datasets}]\nmodels:\n  teacher: {teacher}\n"
    )
    return root, teacher


def _project_keys(root: Path, runtime_params: dict | None = None) -> tuple[dict[str, str], set[str]]:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=runtime_params or {}) as session:
        catalog = session.load_context()._get_catalog(catalog_class=KeyedDataCatalog)
        store = ProvenanceStore(root / STORE_DIR)
        graph = pipelines["__default__"]
        keys = expected_keys(
            graph=graph,
            running=graph,
            source_key=lambda name: source_key(catalog, name, store=store),
            recorded_key=store.key,
        )
        persisted = {name for name in graph.all_outputs() if is_persisted(catalog, name)}
    return keys, persisted


def _downstream(changed_input: str) -> set[str]:
    return set(pipelines["__default__"].from_inputs(changed_input).all_outputs())


@pytest.mark.parametrize(
    ("runtime_params", "changed_input"),
    [
        ({"generation": {"num_samples": 3}}, "params:generation"),
        ({"filtering": {"selection": {"seed": 12345}}}, "params:filtering"),
        ({"finetuning": {"learning_rate": 0.123}}, "params:finetuning"),
    ],
    ids=["generation", "filtering", "finetuning"],
)
def test_a_changed_block_re_keys_every_output_downstream_of_it_and_only_those(
    project_copy, runtime_params, changed_input
):
    root, _ = project_copy
    before, persisted = _project_keys(root)
    after, _ = _project_keys(root, runtime_params)
    changed = {name for name in persisted if before[name] != after[name]}
    assert changed == _downstream(changed_input) & persisted
    assert changed, "the change must reach some output"


def test_new_teacher_weights_at_the_same_path_re_key_what_the_teacher_made(project_copy):
    root, teacher = project_copy
    before, persisted = _project_keys(root)
    (teacher / "model.safetensors").write_bytes(b"weights, version 2")
    after, _ = _project_keys(root)
    changed = {name for name in persisted if before[name] != after[name]}
    assert changed == _downstream("model_setup.teacher.source") & persisted
    assert "generation.gsm8k.generations" in changed and "model_setup.student.checkpoint" not in changed


# --- real runs -----------------------------------------------------------------------------------------


def _records(root: Path) -> dict[str, dict]:
    return {file.stem: json.loads(file.read_text()) for file in (root / STORE_DIR).glob("*.json")}


def test_runs_redo_stale_outputs_only_and_a_moved_project_reuses_everything(tmp_path, shared_datasets):
    root = tmp_path / "first"
    make_project_copy(root, local_globals=f"raw_data_mirrors: [{shared_datasets}]\n")
    run = {"pipeline_names": ["data_preparation"], "only_missing_outputs": True}
    with kedro_session(root, **run):
        pass
    first = _records(root)
    assert "data_preparation.gsm8k.test_problems" in first
    output = root / "data/03_primary/problems/gsm8k/test.jsonl"
    written_at = output.stat().st_mtime_ns

    with kedro_session(root, **run):  # nothing changed: nothing is written again
        pass
    assert _records(root) == first and output.stat().st_mtime_ns == written_at

    moved = tmp_path / "second"
    shutil.copytree(root, moved, symlinks=True)
    shutil.rmtree(root)
    with kedro_session(moved, **run):  # the same work at another path is still the same work
        pass
    assert _records(moved) == first

    # a parameter every node of the pipeline reads: all of its outputs are made again, with the new key
    (moved / "conf/local/parameters_data_preparation.yml").write_text(
        "data_preparation:\n  allow_count_mismatch: true\n"
    )
    listed = {name: size for name, _, size in describe_outputs(moved)}
    assert "stale" in listed["data_preparation.gsm8k.test_problems"]
    with kedro_session(moved, **run):
        pass
    assert not any("stale" in size for _, _, size in describe_outputs(moved))
    after = _records(moved)
    assert set(after) == set(first)
    assert all(after[name]["key"] != first[name]["key"] for name in first)
