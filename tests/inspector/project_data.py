"""A tiny project for the inspector tests: synthetic generations-shaped tables written through the catalog."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import polars as pl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

MODEL = "/models/teacher"
CODE = "<llm-code>\nfrom sympy import Rational\nprint(Rational(1, 2) + Rational(1, 3))\n</llm-code>\n<llm-code-output>\n5/6\n</llm-code-output>\n"
MATH_PROBLEMS = [
    ("math/train/0", "Compute $\\frac{1}{2} + \\frac{1}{3}$.", "\\frac{5}{6}", "Algebra", 2),
    ("math/train/1", "Find the positive $x$ such that \\[x^2 = 16.\\]", "4", "Prealgebra", 1),
    ("math/train/2", "A triangle has legs $3$ and $4$. How long is its hypotenuse?", "5", "Geometry", 5),
]
GSM8K_TEST = [
    ("gsm8k/test/0", "A box holds 6 rows of 7 eggs. How many eggs are in the box?", "42"),
    ("gsm8k/test/1", "Tom has 3 apples and buys 4 more. How many apples does he have?", "7"),
]


def _problems(rows: list[tuple], benchmark: str, split: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": row[0], "benchmark": benchmark, "split": split, "problem": row[1], "expected_answer": row[2],
                "reference_solution": f"The answer is $\\boxed{{{row[2]}}}$.",
                "metadata": {"subject": row[3], "level": row[4]} if len(row) > 3 else {},
            }
            for row in rows
        ]
    )  # fmt: skip


def _graded(problem_id: str, index: int, kind: str, answer: str, model: str = MODEL) -> dict:
    texts = {
        "code": f"Let us add the fractions with code.\n{CODE}So the sum is $\\boxed{{{answer}}}$.",
        "text": f"We have $\\frac{{1}}{{2}} + \\frac{{1}}{{3}} = \\frac{{3 + 2}}{{6}}$, so the answer is $\\boxed{{{answer}}}$.",
        "error": "<llm-code>\nprint(1 / 0)\n</llm-code>\n<llm-code-output>\nZeroDivisionError: division by zero\n</llm-code-output>\n",
        "none": "I am not sure how to solve this.",
    }
    correct = kind in ("code", "text") and answer != "wrong"
    return {
        "problem_id": problem_id, "sample_index": index, "seed": index, "model": model, "engine": "vllm",
        "prompt_name": "code_fewshot", "prompt_hash": "0" * 16,
        "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 256, "stop": ["\nQuestion:"]},
        "generation": texts[kind], "num_code_calls": int(kind in ("code", "error")),
        "code_errors": int(kind == "error"), "finish_reason": "code_error" if kind == "error" else ("length" if kind == "none" else "stop"),
        "error": None, "tokens_in": 100, "tokens_out": 40 + index, "seconds": 1.0,
        "predicted_answer": None if kind in ("none", "error") else answer,
        "is_correct": correct,
        "verdict": {"status": "equivalent" if correct else ("no_answer" if kind in ("none", "error") else "not_equivalent"), "stage": "exact"},
        "grader_version": "answers-3",
    }  # fmt: skip


def graded_math() -> pd.DataFrame:
    rows = []
    for problem_id, _, gold, _, _ in MATH_PROBLEMS:
        rows += [
            _graded(problem_id, 0, "code", gold),
            _graded(problem_id, 1, "text", "wrong"),
            _graded(problem_id, 2, "none", gold),
            _graded(problem_id, 3, "error", gold),
        ]
    return pd.DataFrame(rows)


@contextmanager
def project_catalog(root: Path):
    previous = Path.cwd()
    os.chdir(root)
    try:
        bootstrap_project(root)
        with KedroSession.create(project_path=root) as session:
            yield session.load_context().catalog
    finally:
        os.chdir(previous)


def write_project_data(root: Path, checkpoint: Path) -> None:
    """Every table the tests browse, saved through the project's catalog (its datasets' own formats)."""
    graded = graded_math()
    with project_catalog(root) as catalog:
        catalog.save("data_preparation.math.train_problems", _problems(MATH_PROBLEMS, "math", "train"))
        catalog.save("data_preparation.gsm8k.test_problems", _problems(GSM8K_TEST, "gsm8k", "test"))
        catalog.save("grading.math.graded_generations", graded)
        catalog.save(
            "generation.math.generations",
            graded.drop(columns=["predicted_answer", "is_correct", "verdict", "grader_version"]),
        )
        kept = pl.DataFrame(
            {
                "benchmark": ["math"] * 3, "problem_id": [p[0] for p in MATH_PROBLEMS], "sample_index": [0, 0, 0],
                "solution": [row for row in graded[graded.sample_index == 0].generation], "trimmed_chars": [0, 0, 0],
                "uses_code": [True] * 3, "predicted_answer": [p[2] for p in MATH_PROBLEMS], "model": [MODEL] * 3,
            }
        )  # fmt: skip
        catalog.save("filtering.math.filtered_solutions", kept)
        removed = pl.DataFrame(
            {
                "benchmark": ["math"] * 9,
                "problem_id": [p[0] for p in MATH_PROBLEMS for _ in range(3)],
                "sample_index": [1, 2, 3] * 3,
                "step": ["correct_answer", "correct_answer", "correct_answer"] * 3,
                "reason": ["answer 'wrong' is not correct", "no answer found", "no answer found"] * 3,
            }
        )
        catalog.save("filtering.math.removed_solutions", removed)
        for model, answers in (("base", ["41", "7"]), ("finetuned", ["42", "7"])):
            rows = [
                _graded(problem_id, 0, "text", answer, model=f"/models/{model}")
                | {"is_correct": answer == gold}
                for (problem_id, _, gold), answer in zip(GSM8K_TEST, answers, strict=True)
            ]
            for row in rows:
                row["generation"] = (
                    f"Multiply: $6 \\times 7 = {row['predicted_answer']}$, so $\\boxed{{{row['predicted_answer']}}}$. ({model})"
                )
            catalog.save(f"evaluation.{model}.gsm8k.greedy.graded_generations", pd.DataFrame(rows))
    # float32, as tests/code_interpreter/test_real_engine.py: the 135M model's greedy continuation of the forced
    # code block closes it (in bfloat16 it repeats the print line until its token limit)
    (root / "conf" / "local" / "parameters_evaluation.yml").write_text(
        "evaluation:\n  engine:\n    vllm:\n      dtype: float32\n"
    )
    target = root / "data" / "06_models" / "student"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(checkpoint, target_is_directory=True)
