"""Nodes of the data_preparation pipeline: raw benchmark files -> normalized problem tables.

Every table has the columns of docs/architecture.md §3: ``id`` (``benchmark/split/index``), ``benchmark``,
``split``, ``problem`` (the full text the model sees), ``expected_answer`` (a string, taken the way
the benchmark defines it), ``reference_solution`` (or None) and ``metadata`` (a dict).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from openmath_kedro.answers import find_boxed_answers
from openmath_kedro.datasets.verified_file import RawFile
from openmath_kedro.params import DataPreparationParams

from .raw_formats import (
    RawDataError,
    SourceRecord,
    read_asdiv_xml,
    read_csv,
    read_json_document,
    read_json_lines,
)

logger = logging.getLogger(__name__)

PROBLEM_COLUMNS = ["id", "benchmark", "split", "problem", "expected_answer", "reference_solution", "metadata"]

MATH_SUBJECTS = {
    # file stem in the raw data -> subject name as MATH writes it
    "algebra": "Algebra",
    "counting_and_probability": "Counting & Probability",
    "geometry": "Geometry",
    "intermediate_algebra": "Intermediate Algebra",
    "number_theory": "Number Theory",
    "prealgebra": "Prealgebra",
    "precalculus": "Precalculus",
}


def prepare_gsm8k(
    train: RawFile, test: RawFile, params: DataPreparationParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GSM8K: the final answer follows ``####`` in the solution (thousands separators removed)."""
    return (
        problem_table(
            read_json_lines(train), benchmark="gsm8k", split="train", params=params, fields=_gsm8k_fields
        ),
        problem_table(
            read_json_lines(test), benchmark="gsm8k", split="test", params=params, fields=_gsm8k_fields
        ),
    )


def prepare_math(
    params: DataPreparationParams, test: RawFile, *train_subject_files: RawFile
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MATH: the answer is the last ``\\boxed{}`` of the reference solution; level and subject in metadata.

    The train split is the concatenation of the seven per-subject files, in alphabetical subject order.
    """
    train_records = [
        r for raw in sorted(train_subject_files, key=lambda r: r.name) for r in read_json_lines(raw)
    ]
    return (
        problem_table(train_records, benchmark="math", split="train", params=params, fields=_math_fields),
        problem_table(
            read_json_lines(test), benchmark="math", split="test", params=params, fields=_math_fields
        ),
    )


def prepare_math500(test: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """MATH-500 (PRM800K test split): the file carries the answer; ``unique_id`` names the MATH test problem."""

    def fields(record: SourceRecord) -> dict[str, Any]:
        return {
            "problem": record.get("problem"),
            "expected_answer": record.get("answer"),
            "reference_solution": record.get("solution"),
            "metadata": {
                "level": record.get("level", types=int),
                "subject": record.get("subject"),
                "unique_id": record.get("unique_id"),
            },
        }

    return problem_table(
        read_json_lines(test), benchmark="math500", split="test", params=params, fields=fields
    )


def prepare_svamp(test: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """SVAMP: problem = Body + Question; the numeric ``Answer``."""

    def fields(record: SourceRecord) -> dict[str, Any]:
        return {
            "problem": _join_sentences(record.get("Body"), record.get("Question")),
            "expected_answer": format_number(record, "Answer"),
            "metadata": {
                "source_id": record.get("ID"),
                "equation": record.get("Equation"),
                "type": record.get("Type"),
            },
        }

    return problem_table(
        read_json_document(test), benchmark="svamp", split="test", params=params, fields=fields
    )


def prepare_gsm_hard(test: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """GSM-Hard: GSM8K test problems with large numbers; the ``target`` computed by the PAL program."""

    def fields(record: SourceRecord) -> dict[str, Any]:
        return {
            "problem": record.get("input"),
            "expected_answer": format_number(record, "target"),
            "metadata": {"program": record.get("code")},
        }

    return problem_table(
        read_json_lines(test), benchmark="gsm_hard", split="test", params=params, fields=fields
    )


def prepare_asdiv(corpus: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """ASDiv: the 2215 problems with a single answer (see the pipeline README for why this set).

    Answers are written ``9 (apples)``; the unit in parentheses goes to metadata.
    """

    def fields(record: SourceRecord) -> dict[str, Any] | None:
        answer = record.get("Answer")
        if ";" in answer:  # several answers ("5 (years old); 15 (years old)"): not in the reported set
            return None
        value, unit = _split_asdiv_unit(answer)
        grade = record.fields.get("@Grade", "")
        return {
            "problem": _join_sentences(record.get("Body"), record.get("Question")),
            "expected_answer": value,
            "metadata": {
                "source_id": record.get("@ID"),
                "grade": int(grade) if grade.isdigit() else None,
                "solution_type": record.get("Solution-Type"),
                "formula": record.fields.get("Formula"),
                "unit": unit,
            },
        }

    return problem_table(
        read_asdiv_xml(corpus), benchmark="asdiv", split="test", params=params, fields=fields
    )


def prepare_algebra222(test: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """ALGEBRA-222: a CSV of question and final answer, with the textbook section in metadata."""

    def fields(record: SourceRecord) -> dict[str, Any]:
        return {
            "problem": record.get("question"),
            "expected_answer": record.get("final_answer").strip(),
            "metadata": {
                "section": record.get("section", allow_empty=True),
                "source": record.fields.get("source"),
            },
        }

    records = read_csv(test, required_columns=("question", "final_answer", "section"))
    return problem_table(records, benchmark="algebra222", split="test", params=params, fields=fields)


def prepare_mawps(test: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """MAWPS: the 2065-problem harness set (AddSub, MultiArith, SingleEq, SingleOp); sub-collection in metadata."""

    def fields(record: SourceRecord) -> dict[str, Any]:
        return {
            "problem": record.get("input"),
            "expected_answer": format_number(record, "target"),
            "metadata": {"collection": record.get("type")},
        }

    return problem_table(read_json_lines(test), benchmark="mawps", split="test", params=params, fields=fields)


def prepare_tabmwp(test: RawFile, params: DataPreparationParams) -> pd.DataFrame:
    """TabMWP test1k: the problem text includes the table (and the choices of multiple-choice questions)."""

    def fields(record: SourceRecord) -> dict[str, Any]:
        answer_type = record.get("ans_type")
        answer = record.get("answer").strip()
        if answer_type in ("integer_number", "decimal_number"):
            answer = answer.replace(",", "")
        return {
            "problem": _tabmwp_problem_text(record),
            "expected_answer": answer,
            "reference_solution": record.get("solution"),
            "metadata": {
                "source_id": record.get("_key"),
                "question_type": record.get("ques_type"),
                "answer_type": answer_type,
                "unit": record.fields.get("unit"),
                "choices": record.fields.get("choices"),
                "grade": record.fields.get("grade"),
            },
        }

    return problem_table(
        read_json_document(test), benchmark="tabmwp", split="test", params=params, fields=fields
    )


def problem_table(
    records: Iterable[SourceRecord],
    *,
    benchmark: str,
    split: str,
    params: DataPreparationParams,
    fields: Callable[[SourceRecord], dict[str, Any] | None],
) -> pd.DataFrame:
    """The normalized table of one split: ``fields`` maps a source record to ``problem``,
    ``expected_answer`` and optionally ``reference_solution`` and ``metadata`` (None skips the record).

    Ids number the kept problems in source order; the count must match ``expected_counts``.
    """
    rows = []
    for record in records:
        values = fields(record)
        if values is None:
            continue
        rows.append(
            {
                "id": f"{benchmark}/{split}/{len(rows)}",
                "benchmark": benchmark,
                "split": split,
                "problem": values["problem"].strip(),
                "expected_answer": values["expected_answer"],
                "reference_solution": values.get("reference_solution"),
                "metadata": values.get("metadata", {}),
            }
        )
    _check_count(len(rows), benchmark=benchmark, split=split, params=params)
    logger.info("%s %s: %d problems", benchmark, split, len(rows))
    return pd.DataFrame.from_records(rows, columns=PROBLEM_COLUMNS)


def format_number(record: SourceRecord, field: str) -> str:
    """A numeric field as text: ``51.0`` -> ``"51"``; otherwise the shortest string that reads back as the float."""
    value = record.get(field, types=(int, float))
    if isinstance(value, float) and not math.isfinite(value):
        raise record.error(field, f"not a finite number: {value}")
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _gsm8k_fields(record: SourceRecord) -> dict[str, Any]:
    reasoning, marker, answer = record.get("answer").rpartition("####")
    if not marker or not answer.strip():
        raise record.error("answer", "no final answer after '####'")
    return {
        "problem": record.get("question"),
        "expected_answer": answer.strip().replace(",", ""),
        "reference_solution": reasoning.strip(),
    }


def _math_fields(record: SourceRecord) -> dict[str, Any]:
    solution = record.get("solution")
    boxes = find_boxed_answers(solution)
    if not boxes:
        raise record.error("solution", "no \\boxed{...} answer in the reference solution")
    answer: str | None = boxes[-1]
    if not answer:
        # MATH itself has a few empty boxes (train, number theory: "there are $\\boxed{}$ primes").
        # The problem stays (the split keeps its size) but has no answer to grade against.
        logger.warning(
            "%s, %s: empty \\boxed{} in the reference solution; expected_answer is None",
            record.file,
            record.location,
        )
        answer = None
    level = re.fullmatch(r"Level (\d)", record.get("level"))
    return {
        "problem": record.get("problem"),
        "expected_answer": answer,
        "reference_solution": solution,
        "metadata": {"level": int(level.group(1)) if level else None, "subject": record.get("type")},
    }


def _split_asdiv_unit(answer: str) -> tuple[str, str | None]:
    match = re.fullmatch(r"(.*?)\s*\(([^()]*)\)", answer)
    return (match.group(1).strip(), match.group(2).strip()) if match else (answer.strip(), None)


def _tabmwp_problem_text(record: SourceRecord) -> str:
    title = record.fields.get("table_title")
    table = record.get("table")
    parts = ["Read the table, then answer the question.", ""]
    parts.append(f"Table: {title}" if title else "Table:")
    parts.extend([table, "", f"Question: {record.get('question')}"])
    unit = record.fields.get("unit")
    if unit:
        parts.append(f"(Unit: {unit})")
    choices = record.fields.get("choices")
    if choices:
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise record.error("choices", "expected a list of strings")
        parts.append("Choices: " + ", ".join(choices))
    return "\n".join(parts)


def _join_sentences(body: str, question: str) -> str:
    body = body.strip()
    # SVAMP bodies often lack the final period before the question.
    if body and body[-1] not in ".?!":
        body += "."
    return f"{body} {question.strip()}"


def _check_count(count: int, *, benchmark: str, split: str, params: DataPreparationParams) -> None:
    expected = params.expected_counts.get(benchmark, {}).get(split)
    if expected is None:
        raise ValueError(f"data_preparation.expected_counts has no entry for {benchmark}.{split}")
    if count == expected:
        return
    if not params.allow_count_mismatch:
        raise RawDataError(
            file=f"{benchmark}/{split}",
            problem=f"{count} problems, expected {expected} "
            "(set data_preparation.allow_count_mismatch to accept a different file)",
        )
    logger.warning(
        "%s %s: %d problems, expected %d; continuing (allow_count_mismatch)",
        benchmark,
        split,
        count,
        expected,
    )
