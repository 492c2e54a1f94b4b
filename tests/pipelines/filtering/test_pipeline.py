"""The filtering pipeline on an in-memory catalog: outputs, audit (funnel, chart, coverage), SFT rows, and slices."""

from __future__ import annotations

import logging
import re

import pandas as pd
import plotly.graph_objects as go
import polars as pl
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from openmath_kedro.params import FilteringParams
from openmath_kedro.pipelines.filtering.nodes import EmptySFTSetError
from openmath_kedro.pipelines.filtering.pipeline import EVALUATION_SETS, create_pipeline
from openmath_kedro.prompts import load_prompt

from .graded_tables import CODE, graded, problems

GSM8K = graded(
    (0, CODE + "So \\boxed{4}.\nQuestion: next?"),
    (0, CODE + "So \\boxed{4}."),  # a duplicate once the first is trimmed
    (0, "Wrong \\boxed{5}", False),
    (1, "Text only \\boxed{4}"),
    (1, "Text again \\boxed{4}"),
    (2, "Two \\boxed{4} and \\boxed{4}"),
    benchmark="gsm8k",
)
MATH = graded(
    (0, CODE + "\\boxed{4}"),
    (0, "Text \\boxed{4}"),  # dropped by any_code
    (1, CODE + "\\boxed{4}", True, 1),  # a failed block
    (2, "Plain \\boxed{4}"),  # its problem is planted in math500
    (3, "Level two \\boxed{4}"),
)


class RetainedDataset(MemoryDataset):
    """In memory, and kept after the run (the runner releases intermediate datasets once consumed)."""

    def _release(self) -> None:
        pass


def catalog_with_inputs(gsm8k: pd.DataFrame, math: pd.DataFrame, params: dict) -> DataCatalog:
    math_problems = problems(4)
    datasets = {
        "grading.gsm8k.graded_generations": gsm8k,
        "grading.math.graded_generations": math,
        "data_preparation.gsm8k.train_problems": problems(3, "gsm8k"),
        "data_preparation.math.train_problems": math_problems,
        "params:filtering": FilteringParams.model_validate(params),  # as Kedro hands it to the nodes
    }
    for name in EVALUATION_SETS:
        texts = [
            f"An evaluation problem of {name} about {i} red apples and {i} green pears" for i in range(3)
        ]
        if name == "math500":
            texts.append(math_problems["problem"][2])
        datasets[f"data_preparation.{name}.test_problems"] = pd.DataFrame(
            {"id": [f"{name}/test/{i}" for i in range(len(texts))], "benchmark": name, "problem": texts}
        )
    catalog = DataCatalog({name: MemoryDataset(data) for name, data in datasets.items()})
    for name in create_pipeline().all_outputs():
        catalog[name] = RetainedDataset()
    return catalog


def run(catalog: DataCatalog, pipeline=None) -> DataCatalog:
    SequentialRunner().run(pipeline or create_pipeline(), catalog)
    return catalog


@pytest.fixture(scope="module")
def outputs() -> DataCatalog:
    return run(catalog_with_inputs(GSM8K, MATH, {}))


def test_sft_rows_are_prompt_completion_pairs(outputs):
    sft = outputs.load("filtering.sft.training_examples")
    template = load_prompt("zero_shot")
    assert sft.select("benchmark", "problem_id", "sample_index").rows() == [
        ("gsm8k", "gsm8k/train/0", 0),
        ("gsm8k", "gsm8k/train/1", 0),
        ("gsm8k", "gsm8k/train/1", 1),
        ("math", "math/train/0", 0),
        ("math", "math/train/3", 0),
    ]
    first = sft.row(0, named=True)
    assert first["completion"] == CODE + "So \\boxed{4}."
    assert first["prompt"] == template.render(problem=problems(3, "gsm8k")["problem"][0])
    assert first["prompt"].endswith("My solution:\n")
    assert (first["prompt_name"], first["prompt_hash"]) == ("zero_shot", template.content_hash)
    assert first["source_model"] == "teacher"


def test_every_removed_row_has_a_step_and_a_reason(outputs):
    removed = outputs.load("filtering.math.removed_solutions")
    assert removed.select("problem_id", "sample_index", "step").rows() == [
        ("math/train/0", 1, "code_preference"),
        ("math/train/1", 0, "no_code_errors"),
        ("math/train/2", 0, "decontaminated"),
    ]
    assert removed["reason"][2] == "problem overlaps math500/test/3 (exact match, overlap 1.0)"
    gsm8k = outputs.load("filtering.gsm8k.removed_solutions")
    assert len(GSM8K) == gsm8k.height + outputs.load("filtering.gsm8k.selected_solutions").height
    contaminated = outputs.load("filtering.math.contaminated_problems")
    assert contaminated.select("problem_id", "test_id").rows() == [("math/train/2", "math500/test/3")]


def test_funnel_table_and_chart(outputs):
    funnel = outputs.load("filtering.audit.funnel")
    math = funnel.filter(pl.col("benchmark") == "math").sort("position")
    assert math.select("step", "rows", "problems").rows()[:2] == [("graded", 5, 4), ("correct_answer", 5, 4)]
    assert math.filter(pl.col("step") == "decontaminated").select("rows", "problems", "removed").row(0) == (
        3,
        2,
        1,
    )
    assert math["rows"][-1] == 2
    assert math.filter(pl.col("step") == "length_limits")["enabled"].item() is False
    chart = outputs.load("filtering.audit.funnel_chart")
    assert isinstance(chart, go.Figure)
    assert [trace.name for trace in chart.data] == ["gsm8k", "math"]
    assert chart.data[1].x[0] == 5 and chart.data[1].y[5] == "length_limits (off)"


def test_coverage_per_benchmark_subject_and_level(outputs):
    coverage = outputs.load("filtering.audit.coverage")
    rows = {
        (b, g, v): (n, c)
        for b, g, v, n, c in coverage.select("benchmark", "group", "value", "problems", "covered").rows()
    }
    assert rows[("gsm8k", "all", "all")] == (3, 2)
    assert rows[("math", "all", "all")] == (4, 2)
    assert rows[("math", "subject", "Algebra")] == (2, 1)  # problems 0 and 2; 2 is contaminated
    assert rows[("math", "level", "2")] == (2, 1)  # problems 1 and 3; 1 lost its only solution
    assert ("gsm8k", "subject", "Algebra") not in rows  # GSM8K has no subjects
    math = coverage.filter((pl.col("benchmark") == "math") & (pl.col("group") == "all")).row(0, named=True)
    assert (math["with_generations"], math["covered_before_selection"], math["coverage"]) == (4, 2, 0.5)


def test_selection_reruns_alone_on_the_filtered_solutions(outputs):
    """The select node onwards, with another target size, reads what the filter node left."""
    outputs["params:filtering"] = MemoryDataset(FilteringParams(selection={"target_size": {"gsm8k": 1}}))
    tail = create_pipeline().from_nodes("filtering.gsm8k.select", "filtering.math.select")
    run(outputs, tail)
    sft = outputs.load("filtering.sft.training_examples")
    assert sft.filter(pl.col("benchmark") == "gsm8k").height == 1
    assert sft.filter(pl.col("benchmark") == "math").height == 2
    assert set(outputs.load("filtering.gsm8k.removed_solutions")["step"]) >= {
        "downsampling",
        "correct_answer",
    }


def test_a_benchmark_without_any_kept_solution_is_a_warning_that_shows_its_funnel(caplog):
    catalog = catalog_with_inputs(GSM8K, MATH.assign(is_correct=False), {})
    with caplog.at_level(logging.WARNING):
        run(catalog)
    assert "filtering kept no solution of math" in caplog.text
    assert re.search(r"step\s+math\n\s+graded\s+5\n\s+correct_answer\s+0\n", caplog.text)
    sft = catalog.load("filtering.sft.training_examples")
    assert set(sft["benchmark"]) == {"gsm8k"} and sft.height >= 1
    assert catalog.load("filtering.math.removed_solutions").height == 5


def test_an_empty_sft_set_is_an_error_after_every_funnel_was_shown(caplog):
    catalog = catalog_with_inputs(GSM8K.assign(is_correct=False), MATH.assign(is_correct=False), {})
    with caplog.at_level(logging.WARNING), pytest.raises(Exception) as raised:
        run(catalog)
    error = raised.value if isinstance(raised.value, EmptySFTSetError) else raised.value.__cause__
    assert isinstance(error, EmptySFTSetError), raised.value
    message = str(error)
    assert message.startswith("filtering kept no solution: the SFT set would be empty")
    assert "funnel of each benchmark" in message
    for benchmark in ("gsm8k", "math"):
        assert f"filtering kept no solution of {benchmark}. Rows left after each step" in caplog.text
    assert catalog.load("filtering.math.removed_solutions").height == 5  # saved before the error


def test_allow_empty_result_warns_instead(caplog):
    nothing_right = catalog_with_inputs(
        GSM8K.assign(is_correct=False), MATH.assign(is_correct=False), {"allow_empty_result": True}
    )
    with caplog.at_level(logging.WARNING):
        run(nothing_right)
    assert nothing_right.load("filtering.sft.training_examples").is_empty()
    assert "filtering kept no solution of gsm8k" in caplog.text
    assert "filtering kept no solution of math" in caplog.text


def test_build_refuses_an_empty_set():
    from openmath_kedro.pipelines.filtering.nodes import build_sft_set

    empty = pl.DataFrame(schema={"problem_id": pl.String, "problem": pl.String, "solution": pl.String})
    with pytest.raises(EmptySFTSetError, match="the SFT set would be empty"):
        build_sft_set(FilteringParams(), empty, empty)
