"""A benchmark's metrics from its graded generations: vote tables, per-problem results, the record."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from openmath_kedro.answers import MODEL_OUTPUT, AnswerConventions, DeadlinePool
from openmath_kedro.metrics.clustering import cluster_answers, has_answer
from openmath_kedro.metrics.estimators import majority_vote, pass_at_k
from openmath_kedro.metrics.intervals import DEFAULT_CONFIDENCE, Accuracy, mean_accuracy

GENERATION_COLUMNS = ("problem_id", "sample_index", "predicted_answer", "is_correct")
PROBLEM_COLUMNS = ("id", "expected_answer", "metadata")
VOTE_COLUMNS = ("problem_id", "cluster", "answer", "votes", "first_sample_index", "is_correct")
_SCORE_COLUMN = re.compile(r"^(first_sample)_correct$|^(maj@\d+)_correct$|^(pass@\d+)$")


@dataclass(frozen=True, slots=True)
class BenchmarkMetrics:
    """The headline numbers of one (model, benchmark) run; every accuracy carries its interval."""

    n_problems: int
    samples_per_problem: int  # the fewest samples any problem has (the largest k allowed)
    first_sample: Accuracy  # sample_index 0 of each problem: the greedy accuracy of a greedy run
    majority: Mapping[int, Accuracy]  # k -> maj@k
    pass_at: Mapping[int, Accuracy]  # k -> unbiased pass@k
    no_answer_samples: int
    total_samples: int

    @property
    def no_answer_rate(self) -> float:
        return self.no_answer_samples / self.total_samples

    def to_record(self) -> dict[str, float | int]:
        """One flat row for a results table: ``maj@8``, ``maj@8_low``, ``maj@8_high``, ..."""
        record: dict[str, float | int] = {
            "n_problems": self.n_problems,
            "samples_per_problem": self.samples_per_problem,
            **self.first_sample.to_dict(name="first_sample"),
        }
        for k, value in sorted(self.majority.items()):
            record.update(value.to_dict(name=f"maj@{k}"))
        for k, value in sorted(self.pass_at.items()):
            record.update(value.to_dict(name=f"pass@{k}"))
        record["no_answer_rate"] = self.no_answer_rate
        return record


@dataclass(frozen=True, slots=True)
class BenchmarkEvaluation:
    """``votes``: one row per (problem, answer cluster) over all samples (``VOTE_COLUMNS``).
    ``per_problem``: one row per problem with subject, level, first-sample, maj@k and pass@k results.
    ``metrics``: the aggregate numbers."""

    votes: pd.DataFrame
    per_problem: pd.DataFrame
    metrics: BenchmarkMetrics


def _metadata_field(metadata: Any, field: str) -> Any:
    if isinstance(metadata, str):  # tables written as JSON text
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError:
            return None
    return metadata.get(field) if isinstance(metadata, Mapping) else None


def _check_columns(table: pd.DataFrame, required: Sequence[str], *, name: str) -> None:
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(f"{name} table: columns {missing} missing (has {list(table.columns)})")


def _check_ks(ks: Sequence[int], *, kind: str, fewest: int, fewest_problem: Hashable) -> None:
    for k in ks:
        if k < 1:
            raise ValueError(f"{kind}@{k}: k must be at least 1")
        if k > fewest:
            raise ValueError(
                f"{kind}@{k} needs {k} samples per problem, but problem {fewest_problem!r} has only {fewest}"
            )


def evaluate_benchmark(
    *,
    generations: pd.DataFrame,
    problems: pd.DataFrame,
    majority_ks: Sequence[int] = (),
    pass_ks: Sequence[int] = (),
    conventions: AnswerConventions = MODEL_OUTPUT,
    pool: DeadlinePool | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> BenchmarkEvaluation:
    """Vote tables, per-problem results and metrics for one benchmark run.

    ``generations`` has one graded row per (``problem_id``, ``sample_index``) with ``predicted_answer``
    (None: no answer) and ``is_correct``; ``problems`` has ``id``, ``expected_answer`` and ``metadata``
    (``subject`` and ``level`` are picked up for MATH). Every problem needs samples and every sample a
    known problem; maj@k and pass@k use the first k samples by ``sample_index`` and need k samples in
    every problem (a ``ValueError`` otherwise).

    Clusters: the samples graded correct are one cluster (all are equivalent to the gold answer); the
    other answered samples are clustered by ``cluster_answers`` under ``conventions`` (the benchmark's).
    A problem's maj@k is correct when the winning cluster is the correct one.
    """
    _check_columns(generations, GENERATION_COLUMNS, name="generations")
    _check_columns(problems, PROBLEM_COLUMNS, name="problems")
    if generations.empty or problems.empty:
        raise ValueError("nothing to evaluate: the generations or the problems table is empty")
    if problems["id"].duplicated().any():
        raise ValueError(
            f"problems table: duplicate ids {problems['id'][problems['id'].duplicated()].tolist()[:5]}"
        )
    duplicated = generations.duplicated(["problem_id", "sample_index"])
    if duplicated.any():
        rows = generations.loc[duplicated, ["problem_id", "sample_index"]].head(5).to_dict("records")
        raise ValueError(
            f"generations table: {int(duplicated.sum())} repeated (problem_id, sample_index), e.g. {rows}"
        )
    known = set(problems["id"])
    sampled = set(generations["problem_id"])
    if unknown := sorted(map(str, sampled - known)):
        raise ValueError(
            f"generations for {len(unknown)} problems not in the problems table, e.g. {unknown[:5]}"
        )
    if unsampled := sorted(map(str, known - sampled)):
        raise ValueError(f"{len(unsampled)} problems have no generations, e.g. {unsampled[:5]}")

    ordered = generations.sort_values(["problem_id", "sample_index"], kind="stable")
    problem_ids = ordered["problem_id"].tolist()
    sample_indices = ordered["sample_index"].tolist()
    answers = [answer if has_answer(answer) else None for answer in ordered["predicted_answer"].tolist()]
    # a missing verdict (None, NaN, pd.NA) is "not correct", like every verdict that is not a positive one
    correct = [not pd.isna(value) and bool(value) for value in ordered["is_correct"].tolist()]
    if bad := [
        (problem, index)
        for problem, index, answer, ok in zip(problem_ids, sample_indices, answers, correct, strict=True)
        if ok and answer is None
    ]:
        raise ValueError(f"{len(bad)} samples are marked correct but have no answer, e.g. {bad[:5]}")

    # Slices of the sorted table, one per problem.
    starts = [0] + [i for i in range(1, len(problem_ids)) if problem_ids[i] != problem_ids[i - 1]]
    spans = list(zip(starts, starts[1:] + [len(problem_ids)], strict=True))
    sizes = [end - start for start, end in spans]
    fewest_at = min(range(len(spans)), key=sizes.__getitem__)
    fewest, fewest_problem = sizes[fewest_at], problem_ids[spans[fewest_at][0]]
    _check_ks(majority_ks, kind="maj", fewest=fewest, fewest_problem=fewest_problem)
    _check_ks(pass_ks, kind="pass", fewest=fewest, fewest_problem=fewest_problem)

    wrong_labels = cluster_answers(
        answers=[
            [
                answer if not ok else None
                for answer, ok in zip(answers[start:end], correct[start:end], strict=True)
            ]
            for start, end in spans
        ],
        conventions=conventions,
        pool=pool,
    )
    metadata = dict(zip(problems["id"], problems["metadata"], strict=True))
    golds = dict(zip(problems["id"], problems["expected_answer"], strict=True))

    vote_rows: list[dict[str, Any]] = []
    problem_rows: list[dict[str, Any]] = []
    for (start, end), wrong in zip(spans, wrong_labels, strict=True):
        problem = problem_ids[start]
        # one label per sample, numbered by first appearance; the correct samples share one label
        numbering: dict[tuple[str, int], int] = {}
        labels: list[int | None] = []
        for offset, wrong_label in enumerate(wrong):
            if correct[start + offset]:
                key = ("correct", 0)
            elif wrong_label is not None:
                key = ("wrong", wrong_label)
            else:
                labels.append(None)
                continue
            labels.append(numbering.setdefault(key, len(numbering)))
        correct_label = numbering.get(("correct", 0))
        for cluster in range(len(numbering)):
            members = [offset for offset, label in enumerate(labels) if label == cluster]
            vote_rows.append(
                {
                    "problem_id": problem,
                    "cluster": cluster,
                    "answer": answers[start + members[0]],
                    "votes": len(members),
                    "first_sample_index": sample_indices[start + members[0]],
                    "is_correct": cluster == correct_label,
                }
            )
        n_correct = sum(correct[start:end])
        row: dict[str, Any] = {
            "problem_id": problem,
            "subject": _metadata_field(metadata[problem], "subject"),
            "level": _metadata_field(metadata[problem], "level"),
            "expected_answer": golds[problem],
            "n_samples": end - start,
            "n_answered": sum(label is not None for label in labels),
            "n_correct": n_correct,
            "first_sample_correct": correct[start],
        }
        for k in majority_ks:
            vote = majority_vote(labels=labels, k=k)
            winner_offset = labels.index(vote.winner) if vote.winner is not None else None
            row[f"maj@{k}_answer"] = None if winner_offset is None else answers[start + winner_offset]
            row[f"maj@{k}_votes"] = vote.votes
            row[f"maj@{k}_tied"] = vote.tied > 1
            row[f"maj@{k}_correct"] = vote.winner is not None and vote.winner == correct_label
        for k in pass_ks:
            row[f"pass@{k}"] = pass_at_k(n=end - start, correct=n_correct, k=k)
        problem_rows.append(row)

    per_problem = pd.DataFrame(problem_rows)
    metrics = BenchmarkMetrics(
        n_problems=len(per_problem),
        samples_per_problem=fewest,
        first_sample=mean_accuracy(scores=per_problem["first_sample_correct"], confidence=confidence),
        majority={
            k: mean_accuracy(scores=per_problem[f"maj@{k}_correct"], confidence=confidence)
            for k in majority_ks
        },
        pass_at={k: mean_accuracy(scores=per_problem[f"pass@{k}"], confidence=confidence) for k in pass_ks},
        no_answer_samples=sum(answer is None for answer in answers),
        total_samples=len(answers),
    )
    votes = pd.DataFrame(vote_rows, columns=list(VOTE_COLUMNS))
    return BenchmarkEvaluation(votes=votes, per_problem=per_problem, metrics=metrics)


def breakdown(*, per_problem: pd.DataFrame, by: str, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Accuracies per group (``by="subject"`` or ``"level"`` for MATH) from ``evaluate_benchmark``'s
    ``per_problem`` table: one row per group with ``n_problems`` and, for each of ``first_sample``,
    ``maj@k`` and ``pass@k``, the value and its interval (``_low``, ``_high``)."""
    if by not in per_problem.columns:
        raise ValueError(f"per-problem table has no column {by!r} (has {list(per_problem.columns)})")
    if per_problem[by].isna().all():
        raise ValueError(f"no problem has a {by!r} in its metadata")
    scores = {
        next(name for name in match.groups() if name): column
        for column in per_problem.columns
        if (match := _SCORE_COLUMN.match(str(column)))
    }
    rows = []
    for group, table in per_problem.groupby(by, sort=True, dropna=False):
        row: dict[str, Any] = {by: None if isinstance(group, float) and math.isnan(group) else group}
        row["n_problems"] = len(table)
        for name, column in scores.items():
            row.update(mean_accuracy(scores=table[column], confidence=confidence).to_dict(name=name))
        rows.append(row)
    return pd.DataFrame(rows)
