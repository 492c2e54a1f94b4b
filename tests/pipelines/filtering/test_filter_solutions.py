"""filter_solutions: each rule alone on a small hand-made table whose result is known, then all together."""

from __future__ import annotations

import polars as pl
import pytest

from openmath_kedro.params import FilteringParams
from openmath_kedro.pipelines.filtering.decontamination import CONTAMINATION_SCHEMA
from openmath_kedro.pipelines.filtering.nodes import filter_solutions

from .graded_tables import CODE, graded, problems, rules_off

NO_CONTAMINATION = pl.DataFrame(schema=CONTAMINATION_SCHEMA)


def run(table, params, contaminated=NO_CONTAMINATION, count=3):
    kept, removed = filter_solutions(
        table, problems(count), contaminated, FilteringParams.model_validate(params)
    )
    return kept, removed


def keys(frame: pl.DataFrame) -> list[tuple[str, int]]:
    return [(p.split("/")[-1], s) for p, s in frame.select("problem_id", "sample_index").iter_rows()]


def test_correct_only():
    table = graded((0, "\\boxed{4}", True), (0, "\\boxed{5}", False), (1, "\\boxed{4}", True))
    kept, removed = run(table, rules_off(correct_only=True))
    assert keys(kept) == [("0", 0), ("1", 0)]
    assert removed.row(0, named=True) | {} == {
        "benchmark": "math",
        "problem_id": "math/train/0",
        "sample_index": 1,
        "step": "correct_answer",
        "reason": "answer '4' is not correct",
    }


def test_single_boxed_answer():
    table = graded(
        (0, "So \\boxed{4}."),
        (0, "no box, just 4"),
        (0, "\\boxed{3}, no wait, \\boxed{4}"),
        (0, "\\boxed{\\boxed{4}}"),  # nested: one answer
        (0, "\\boxed{4"),  # never closed
    )
    kept, removed = run(table, rules_off(single_boxed_answer=True))
    assert keys(kept) == [("0", 0), ("0", 3)]
    assert removed["reason"].to_list() == [
        "no \\boxed{} answer",
        "2 \\boxed{} answers",
        "no \\boxed{} answer",
    ]
    assert set(removed["step"]) == {"one_boxed_answer"}


def test_trim_after_answer_cuts_the_text_after_the_answer_line():
    table = graded((0, "Step.\nSo $\\boxed{4}$.\n\nQuestion: a new problem"), (0, "Fine $\\boxed{4}$."))
    kept, removed = run(table, rules_off(trim_after_answer=True))
    assert kept["solution"].to_list() == ["Step.\nSo $\\boxed{4}$.", "Fine $\\boxed{4}$."]
    assert kept["trimmed_chars"].to_list() == [len("\n\nQuestion: a new problem"), 0]
    assert removed.is_empty()


def test_trimming_switched_off_keeps_the_text():
    text = "So $\\boxed{4}$.\nQuestion: next"
    kept, _ = run(graded((0, text)), rules_off())
    assert kept["solution"].to_list() == [text]


def test_well_formed_code():
    table = graded(
        (0, CODE + "\\boxed{4}"),
        (0, "<llm-code>\nprint(4)\n\\boxed{4}"),
        (0, "no code \\boxed{4}"),
        (0, CODE + "<llm-code-output>\n4\n</llm-code-output>\n\\boxed{4}"),
    )
    kept, removed = run(table, rules_off(well_formed_code=True))
    assert keys(kept) == [("0", 0), ("0", 2)]
    assert removed["reason"].to_list() == [
        "code tags out of order or unclosed: <llm-code>",
        "code tags out of order or unclosed: <llm-code> </llm-code> <llm-code-output> </llm-code-output> "
        "<llm-code-output> </llm-code-output>",
    ]


def test_code_errors():
    table = graded((0, CODE + "\\boxed{4}", True, 0), (0, CODE + "\\boxed{4}", True, 1))
    kept, removed = run(table, rules_off(drop_code_errors=True))
    assert keys(kept) == [("0", 0)]
    assert removed["reason"].to_list() == ["1 code block(s) failed"]
    kept, _ = run(table, rules_off(drop_code_errors=False))
    assert kept.height == 2


def test_length_limits_on_the_trimmed_text():
    table = graded((0, "\\boxed{4}"), (0, "A long enough solution: \\boxed{4}\nand a long tail " + "x" * 100))
    kept, removed = run(table, rules_off(trim_after_answer=True, min_chars=10, max_chars=60))
    assert keys(kept) == [("0", 1)]  # 34 characters once trimmed
    assert removed["reason"].to_list() == ["9 characters, outside [10, 60]"]
    kept, removed = run(table, rules_off(max_chars=60))  # untrimmed, the second one is too long
    assert keys(kept) == [("0", 0)] and removed["reason"].to_list() == ["150 characters, outside [0, 60]"]
    kept, removed = run(table, rules_off(min_chars=10))
    assert keys(kept) == [("0", 1)] and removed["reason"].to_list() == ["9 characters, outside [10, none]"]


def test_exact_duplicates_per_problem():
    table = graded(
        (0, "same \\boxed{4}"), (0, "other \\boxed{4}"), (0, "same \\boxed{4}"), (1, "same \\boxed{4}")
    )
    kept, removed = run(table, rules_off(exact_duplicates=True))
    assert keys(kept) == [("0", 0), ("0", 1), ("1", 0)]  # another problem's copy is not a duplicate
    assert removed.select("sample_index", "reason").rows() == [(2, "same text as sample 0")]


def test_near_duplicates_per_problem():
    table = graded(
        (0, "So x = 2\nand $\\boxed{4}$."),
        (0, "So  x=2 and \\boxed{4}."),
        (0, "So x = 3 and $\\boxed{4}$."),
    )
    kept, removed = run(table, rules_off(near_duplicates=True))
    assert keys(kept) == [("0", 0), ("0", 2)]
    assert removed.select("step", "reason").rows() == [
        ("unique_up_to_layout", "same text as sample 0 up to spaces, newlines and $")
    ]
    kept, _ = run(table, rules_off(exact_duplicates=True))
    assert kept.height == 3  # not identical, so not exact duplicates


def test_contaminated_problems_lose_every_solution():
    contaminated = pl.DataFrame(
        {
            "problem_id": ["math/train/1"],
            "problem": ["p"],
            "test_benchmark": ["math500"],
            "test_id": ["math500/test/7"],
            "test_problem": ["p"],
            "match": ["exact"],
            "overlap": [1.0],
        },
        schema=CONTAMINATION_SCHEMA,
    )
    table = graded((0, "\\boxed{4}"), (1, "\\boxed{4}"), (1, "again \\boxed{4}"))
    params = rules_off()
    params["decontamination"] = {"enabled": True}
    kept, removed = run(table, params, contaminated)
    assert keys(kept) == [("0", 0)]
    assert removed["reason"].to_list() == ["problem overlaps math500/test/7 (exact match, overlap 1.0)"] * 2


def test_every_rule_on_attributes_each_row_to_the_first_rule_it_fails():
    table = graded(
        (0, "Wrong \\boxed{5}", False),
        (0, "Two \\boxed{4} \\boxed{4}"),
        (0, CODE + "So \\boxed{4}.\nQuestion: next?"),
        (0, CODE + "So \\boxed{4}."),  # the same once the first is trimmed
        (0, CODE + "So  \\boxed{4}."),
        (1, "<llm-code>\nprint(1)\n\\boxed{4}"),
        (1, CODE + "\\boxed{4}", True, 1),
        (2, "Plain \\boxed{4}"),
    )
    kept, removed = run(table, {})
    assert keys(kept) == [("0", 2), ("2", 0)]
    assert removed.select("problem_id", "sample_index", "step").rows() == [
        ("math/train/0", 0, "correct_answer"),
        ("math/train/0", 1, "one_boxed_answer"),
        ("math/train/0", 3, "unique_text"),
        ("math/train/0", 4, "unique_up_to_layout"),
        ("math/train/1", 0, "well_formed_code"),
        ("math/train/1", 1, "no_code_errors"),
    ]
    assert kept.columns == [
        "benchmark", "problem_id", "sample_index", "solution", "trimmed_chars", "uses_code", "predicted_answer",
        "model", "generation_run",
    ]  # fmt: skip
    assert kept["uses_code"].to_list() == [True, False]
    assert len(table) == kept.height + removed.height


def test_unknown_problem_ids_are_an_error():
    with pytest.raises(ValueError, match=r"1 problem ids are not math training problems, e.g. math/train/9"):
        run(graded((9, "\\boxed{4}")), {})
