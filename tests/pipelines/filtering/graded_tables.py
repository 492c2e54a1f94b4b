"""Small hand-made tables in the shapes the filtering pipeline reads."""

from __future__ import annotations

import pandas as pd

CODE = "<llm-code>\nprint(2 + 2)\n</llm-code>\n<llm-code-output>\n4\n</llm-code-output>\n"


def graded(*rows: tuple, benchmark: str = "math") -> pd.DataFrame:
    """Rows of (problem index, generation), optionally followed by is_correct and code_errors; sample
    indices count up per problem."""
    records, seen = [], {}
    for problem, text, *rest in rows:
        correct = rest[0] if rest else True
        code_errors = rest[1] if len(rest) > 1 else 0
        index = seen.get(problem, 0)
        seen[problem] = index + 1
        records.append(
            {
                "problem_id": f"{benchmark}/train/{problem}",
                "sample_index": index,
                "seed": 7,
                "model": "teacher",
                "sampling": {"temperature": 0.7},
                "generation": text,
                "num_code_calls": text.count("<llm-code>"),
                "code_errors": code_errors,
                "finish_reason": "stop",
                "predicted_answer": "4",
                "is_correct": correct,
                "verdict": {"status": "equivalent" if correct else "not_equivalent", "stage": "exact"},
                "grader_version": "1",
            }
        )
    return pd.DataFrame.from_records(records)


def problems(count: int, benchmark: str = "math", *, texts: list[str] | None = None) -> pd.DataFrame:
    """Training problems ``benchmark/train/0..count-1``; MATH ones get a subject and a level."""
    subjects = ["Algebra", "Geometry"]
    return pd.DataFrame(
        {
            "id": [f"{benchmark}/train/{i}" for i in range(count)],
            "benchmark": benchmark,
            "split": "train",
            "problem": texts or [f"Problem number {i}: what is {i} plus {i}?" for i in range(count)],
            "expected_answer": "4",
            "reference_solution": None,
            "metadata": [
                {"level": i % 2 + 1, "subject": subjects[i % 2]} if benchmark == "math" else {}
                for i in range(count)
            ],
        }
    )


def rules_off(**switched_on: object) -> dict:
    """Parameters with every rule, decontamination and selection off, except those given."""
    filters = {
        "correct_only": False,
        "single_boxed_answer": False,
        "trim_after_answer": False,
        "well_formed_code": False,
        "drop_code_errors": False,
        "exact_duplicates": False,
        "near_duplicates": False,
    }
    filters.update(switched_on)
    return {
        "filters": filters,
        "decontamination": {"enabled": False},
        "selection": {"code_preference": "all"},
    }
