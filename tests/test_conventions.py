"""Project conventions: dataset and parameter naming, catalog layout, import contracts."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_RUNS
from openmath_kedro.params import PARAMETER_MODELS, ParameterError, validate_parameters
from tests.conftest import PROJECT_ROOT

KEDRO_FREE_PACKAGES = (
    "answers",
    "sandbox",
    "engines",
    "prompts",
    "metrics",
    "code_interpreter",
    "runs.keys",
    "runs.resources",
)
COMPOSITES = {"__default__", "sdg"}
EVALUATION_IN_MEMORY = r"evaluation\.[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+\.(settings|masked_solutions)"
CONF = PROJECT_ROOT / "conf" / "base"


@pytest.fixture(scope="module")
def context():
    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT) as session:
        yield session.load_context()


def pipeline_names() -> list[str]:
    bootstrap_project(PROJECT_ROOT)
    return sorted(name for name in pipelines if name not in COMPOSITES)


def test_pipelines_are_registered():
    folders = {
        p.name
        for p in (PROJECT_ROOT / "src/openmath_kedro/pipelines").iterdir()
        if (p / "pipeline.py").is_file()
    }
    assert folders - COMPOSITES == set(pipeline_names())  # every pipeline folder, and nothing else
    assert {"data_preparation", "model_setup", "generation", "grading", "filtering", "finetuning",
            "evaluation", "reporting"} <= folders  # fmt: skip
    default = pipelines["__default__"]
    for name in pipeline_names():
        assert set(pipelines[name].nodes) <= set(default.nodes), f"{name} is not part of __default__"


@pytest.mark.parametrize("name", pipeline_names())
def test_dataset_names_follow_pipeline_group_artifact(name):
    owners = "|".join(pipeline_names())
    for dataset in pipelines[name].datasets():
        if dataset.startswith("params:") or dataset == "parameters":
            continue
        # evaluation is namespaced per model and benchmark, and per run inside those
        evaluation = (
            r"evaluation\.("
            + "|".join(EVALUATED_MODELS)
            + r")\.[a-z0-9_]+(\.("
            + "|".join(EVALUATION_RUNS)
            + r"))?\.[a-z0-9_]+"
        )
        assert re.fullmatch(rf"({owners})\.[a-z0-9_]+\.[a-z0-9_]+", dataset) or re.fullmatch(
            evaluation, dataset
        ), (
            f"{dataset!r} in pipeline {name!r} is not named '{{pipeline}}.{{benchmark or role}}.{{artifact}}' "
            "(evaluation: 'evaluation.{model}.{benchmark}[.{run}].{artifact}')"
        )
    for dataset in pipelines[name].all_outputs():
        assert dataset.startswith(f"{name}."), f"{name} writes {dataset!r}, which belongs to another pipeline"


@pytest.mark.parametrize("name", pipeline_names())
def test_pipelines_read_only_their_own_parameters(name):
    for dataset in pipelines[name].inputs():
        if dataset.startswith("params:"):
            key = dataset.removeprefix("params:")
            assert key == name or key.startswith(f"{name}."), (
                f"{name} reads {dataset}, which belongs elsewhere"
            )


def test_each_parameters_file_holds_one_block_of_its_pipeline():
    files = sorted(CONF.glob("parameters*.yml"))
    assert files, "no parameters files"
    for file in files:
        match = re.fullmatch(r"parameters_([a-z_]+)\.yml", file.name)
        assert match, f"{file.name}: parameters files are named parameters_<pipeline>.yml"
        keys = list(yaml.safe_load(file.read_text()) or {})
        assert keys == [match.group(1)], (
            f"{file.name} must hold exactly the '{match.group(1)}' block, has {keys}"
        )
        assert match.group(1) in PARAMETER_MODELS, f"{file.name}: no pydantic model in params.py"


def test_each_catalog_file_declares_only_its_pipelines_datasets():
    files = sorted(CONF.glob("catalog*.yml"))
    assert files
    for file in files:
        match = re.fullmatch(r"catalog_([a-z_]+)\.yml", file.name)
        assert match, f"{file.name}: catalog files are named catalog_<pipeline>.yml"
        for entry in yaml.safe_load(file.read_text()):
            assert entry.startswith(("_", f"{match.group(1)}.")), (
                f"{file.name}: {entry!r} belongs to another pipeline"
            )


@pytest.mark.parametrize("name", pipeline_names())
def test_every_dataset_is_persisted_with_a_viz_layer(context, name):
    for dataset_name in pipelines[name].datasets():
        if dataset_name.startswith("params:") or dataset_name == "parameters":
            continue
        if re.fullmatch(EVALUATION_IN_MEMORY, dataset_name):
            # derived from parameters in every run (a file could go stale under --only-missing-outputs), and
            # the masked solutions that evaluation prompts never show (a layer there would make them cyclic)
            continue
        dataset = context.catalog.get(dataset_name)
        assert dataset is not None and not isinstance(dataset, MemoryDataset), (
            f"{dataset_name} is not in the catalog"
        )
        layer = (getattr(dataset, "metadata", None) or {}).get("kedro-viz", {}).get("layer")
        assert layer, f"{dataset_name} has no kedro-viz layer"


def test_project_parameters_validate(context):
    validated = validate_parameters(context.params)
    assert set(validated) == set(context.params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"data_preparatoin": {}}, r"'data_preparatoin': unknown top-level parameter"),
        (
            {"model_setup": {"dtype": "int3"}},
            r"'model_setup\.dtype': Input should be 'bfloat16', 'float16' or 'float32'",
        ),
        ({"model_setup": {"dtyp": "float32"}}, r"'model_setup\.dtyp': Extra inputs are not permitted"),
        (
            {"data_preparation": {"expected_counts": {"gsm8k": {"test": "many"}}}},
            r"'data_preparation\.expected_counts\.gsm8k\.test'",
        ),
    ],
)
def test_invalid_parameters_are_named(params, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters(params)


def test_kedro_free_packages_are_under_the_import_contract():
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    forbidden = next(c for c in config["contracts"] if c["type"] == "forbidden")
    assert {"kedro", "openmath_kedro.pipelines"} <= set(forbidden["forbidden_modules"])
    package_dir = PROJECT_ROOT / "src" / "openmath_kedro"
    for package in KEDRO_FREE_PACKAGES:
        path = package_dir / package.replace(".", "/")
        assert path.is_dir() or path.with_suffix(".py").is_file(), f"{package} does not exist"
        assert f"openmath_kedro.{package}" in forbidden["source_modules"], (
            f"{package} is not under the contract"
        )
    independence = next(c for c in config["contracts"] if c["type"] == "independence")
    assert set(independence["modules"]) == {f"openmath_kedro.pipelines.{name}" for name in pipeline_names()}


def test_import_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout)


def test_code_is_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "src", "tests", "benchmarks"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _declared_distributions() -> set[str]:
    """Distribution names in pyproject's dependencies and optional groups, normalized."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for group in project["optional-dependencies"].values() for r in group
    ]
    return {
        re.split(r"[<>=~!\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in requirements
    }


def test_every_package_the_code_imports_is_declared():
    """src/ imports only the standard library, itself and packages pyproject.toml declares (not ones that
    happen to be installed as someone else's dependency)."""
    import ast
    import importlib.metadata

    declared = _declared_distributions()
    owners = importlib.metadata.packages_distributions()
    undeclared: dict[str, set[str]] = {}
    for path in sorted((PROJECT_ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "openmath_kedro":
                    continue
                distributions = {name.lower().replace("_", "-") for name in owners.get(top, [])}
                if not distributions & declared:
                    undeclared.setdefault(top, set()).add(str(path.relative_to(PROJECT_ROOT)))
    assert not undeclared, sorted(undeclared)
