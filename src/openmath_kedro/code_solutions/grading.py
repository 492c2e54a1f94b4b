"""Generations -> graded generations with given answer conventions (shared by grading and evaluation)."""

from __future__ import annotations

import logging

import pandas as pd
from tqdm.auto import tqdm

from openmath_kedro.answers import GRADER_VERSION, AnswerConventions, grade_responses

logger = logging.getLogger(__name__)

BATCH = 5000  # responses graded per step of the progress bar


def grade_solutions(
    generations: pd.DataFrame, problems: pd.DataFrame, *, conventions: AnswerConventions, label: str
) -> pd.DataFrame:
    """Add ``predicted_answer``, ``is_correct``, ``verdict`` (status and deciding stage) and ``grader_version``.

    Problems without an expected answer are graded as not correct (verdict ``no_gold``). ``label`` names
    the table in errors, logs and the progress bar.
    """
    missing = [column for column in ("problem_id", "generation") if column not in generations]
    if missing and generations.empty:  # no rows (a disabled benchmark): an empty JSON Lines file has no columns
        generations, missing = generations.reindex(columns=[*generations.columns, *missing]), []
    if missing:
        raise ValueError(
            f"{label} generations table: column '{missing[0]}' missing (has {', '.join(generations.columns)})"
        )
    gold_by_id = problems.set_index("id")["expected_answer"]
    unknown = sorted(set(generations["problem_id"]) - set(gold_by_id.index))
    if unknown:
        raise ValueError(
            f"{label} generations table: {len(unknown)} problem ids not in the problems table, e.g. {unknown[0]}"
        )

    golds = generations["problem_id"].map(gold_by_id)
    predicted, correct, verdicts = [], [], []
    for start in tqdm(range(0, len(generations), BATCH), desc=f"grading {label}", unit="batch"):
        texts = generations["generation"].iloc[start : start + BATCH].tolist()
        batch_golds = golds.iloc[start : start + BATCH].tolist()
        with_gold = [i for i, gold in enumerate(batch_golds) if isinstance(gold, str)]
        graded = grade_responses(
            [texts[i] for i in with_gold], [batch_golds[i] for i in with_gold], conventions=conventions
        )
        by_index = dict(zip(with_gold, graded, strict=True))
        for i in range(len(texts)):
            response = by_index.get(i)
            predicted.append(response.predicted_answer if response else None)
            correct.append(bool(response and response.is_correct))
            verdicts.append(
                {"status": response.verdict.status, "stage": response.verdict.stage}
                if response
                else {"status": "no_gold", "stage": None}
            )
    graded_table = generations.assign(
        predicted_answer=predicted, is_correct=correct, verdict=verdicts, grader_version=GRADER_VERSION
    )
    logger.info(
        "grading %s: %d of %d generations correct (%.1f%%), %d without an answer",
        label,
        sum(correct),
        len(correct),
        100 * sum(correct) / max(len(correct), 1),
        sum(p is None for p in predicted),
    )
    return graded_table
