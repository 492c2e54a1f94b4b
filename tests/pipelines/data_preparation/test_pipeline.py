"""data_preparation end to end through a KedroSession on the shared raw files."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmath_kedro.datasets import JSONLinesDataset
from tests.conftest import kedro_session, make_project_copy

pytestmark = pytest.mark.integration

EXPECTED_COUNTS = {
    ("gsm8k", "train"): 7473,
    ("gsm8k", "test"): 1319,
    ("math", "train"): 7500,
    ("math", "test"): 5000,
    ("math500", "test"): 500,
    ("svamp", "test"): 1000,
    ("gsm_hard", "test"): 1319,
    ("asdiv", "test"): 2215,
    ("algebra222", "test"): 222,
    ("mawps", "test"): 2065,
    ("tabmwp", "test"): 1000,
}

# (problem id, start of the problem text, expected answer): a few known problems per benchmark
KNOWN_PROBLEMS = [
    ("gsm8k/train/0", "Natalia sold clips to 48 of her friends in April", "72"),
    ("gsm8k/test/0", "Janet’s ducks lay 16 eggs per day.", "18"),
    ("gsm8k/test/1318", "Henry and 3 of his friends order 7 pizzas for lunch.", "14"),
    ("math/test/0", "How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?", "2"),
    ("math/test/1", "What is the positive difference between $120\\%$ of 30 and $130\\%$ of 20?", "10"),
    (
        "math500/test/0",
        "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
    ),
    ("svamp/test/1", "Dan had $ 3 left with him after he bought a candy bar.", "1"),
    ("gsm_hard/test/0", "Janet’s ducks lay 16 eggs per day.", "-9867630"),
    ("asdiv/test/0", "Seven red apples and two green apples are in the basket.", "9"),
    ("asdiv/test/1", "Ellen has six more balls than Marin.", "15"),
    ("algebra222/test/1", "A brownie recipe is asking for 350 grams of sugar", "620"),
    ("algebra222/test/2", "The size of a compressed file is 1.74 MiB", "9.57"),
    ("mawps/test/0", "Joan found 70 seashells on the beach.", "43"),
    ("tabmwp/test/0", "Read the table, then answer the question.\n\nTable: Coin collections", "84"),
    ("tabmwp/test/4", "Read the table, then answer the question.", "yes"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, shared_datasets) -> Path:
    root = make_project_copy(
        tmp_path_factory.mktemp("data_preparation") / "project",
        local_globals=f"raw_data_mirrors:\n  - {shared_datasets}\n",
    )
    with kedro_session(root, pipeline_names=["data_preparation"]):
        pass
    return root


def load(root: Path, benchmark: str, split: str):
    return JSONLinesDataset(
        filepath=str(root / "data" / "03_primary" / "problems" / benchmark / f"{split}.jsonl")
    ).load()


@pytest.mark.parametrize(("benchmark", "split"), EXPECTED_COUNTS)
def test_every_table_has_its_count(prepared, benchmark, split):
    table = load(prepared, benchmark, split)
    assert len(table) == EXPECTED_COUNTS[benchmark, split]
    assert table["id"].is_unique
    assert set(table.columns) >= {
        "id",
        "benchmark",
        "split",
        "problem",
        "expected_answer",
        "reference_solution",
        "metadata",
    }


@pytest.mark.parametrize(("problem_id", "start", "answer"), KNOWN_PROBLEMS)
def test_known_problems(prepared, problem_id, start, answer):
    benchmark, split, _ = problem_id.split("/")
    problem = load(prepared, benchmark, split).set_index("id").loc[problem_id]
    assert problem["problem"].startswith(start)
    assert problem["expected_answer"] == answer


def test_raw_files_were_copied_from_the_mirror(prepared, shared_datasets):
    raw_dir = prepared / "data" / "01_raw"
    copied = sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.rglob("*") if p.is_file())
    assert copied == [
        "algebra222/algebra222.csv", "asdiv/ASDiv.xml", "gsm-hard/gsmhardv2.jsonl", "gsm8k/test.jsonl",
        "gsm8k/train.jsonl", "math/math-500/test.jsonl", "math/test.jsonl",
        *(f"math/train/hendrycks_math_{s}_train.json" for s in (
            "algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
            "prealgebra", "precalculus")),
        "mawps/test.jsonl", "svamp/SVAMP.json", "tabmwp/problems_test1k.json",
    ]  # fmt: skip
    for name in copied:
        assert (raw_dir / name).read_bytes() == (shared_datasets / name).read_bytes()


def test_outputs_lists_every_table_with_its_rows(prepared):
    from openmath_kedro.runs.outputs import describe_outputs

    listed = {name: size for name, _, size in describe_outputs(prepared)}
    for (benchmark, split), count in EXPECTED_COUNTS.items():
        assert listed[f"data_preparation.{benchmark}.{split}_problems"] == f"{count} rows"
    assert not any(name.startswith("model_setup.") for name in listed)  # not built in this project copy
