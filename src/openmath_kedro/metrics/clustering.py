"""Answer clusters: a problem's sampled answers grouped by the grader's equivalence.

``1/2``, ``0.5`` and ``\\frac12`` are one vote bucket. Work is kept small in two steps:

1. answers with the same normalized text (``normalize_answer``) share a bucket without any comparison
   (the grader calls such pairs equivalent at its first, ``exact`` stage);
2. only the distinct bucket representatives are compared, by the *leader rule*: representatives are taken
   in order of first appearance, and each joins the earliest cluster whose leader (its first
   representative) the grader finds equivalent to it, else it leads a new cluster.

The leader rule is evaluated in rounds so that every comparison goes through ``grade_batch`` in large
batches: round r compares, for every problem at once, the still unassigned representatives with that
problem's next leader. The result is the same as comparing one answer at a time, and it is well defined
even if the grader's equivalence is not transitive (tolerances): an answer is compared with leaders only.
"""

from __future__ import annotations

from collections.abc import Sequence

from openmath_kedro.answers import (
    MODEL_OUTPUT,
    AnswerConventions,
    DeadlinePool,
    grade_batch,
    normalize_answer,
)

ClusterLabels = list[int | None]  # per sample: a cluster number (0, 1, ... by first appearance) or None


def _bucket_key(answer: str) -> tuple[str, str]:
    text = normalize_answer(answer).text
    # an empty normalized text is not "the same answer" for the grader, so fall back to the raw text
    return ("normalized", text) if text else ("raw", answer.strip())


def has_answer(answer: object) -> bool:
    """True for a non-blank string; None, NaN and blank strings are "no answer" (they do not vote)."""
    return isinstance(answer, str) and bool(answer.strip())


def cluster_answers(
    *,
    answers: Sequence[Sequence[str | None]],
    conventions: AnswerConventions = MODEL_OUTPUT,
    pool: DeadlinePool | None = None,
) -> list[ClusterLabels]:
    """Cluster labels for the answers of many problems at once (one inner sequence per problem).

    Returns, per problem, one label per answer in the given order: clusters are numbered 0, 1, ... in order
    of first appearance, and a missing answer (None or blank) gets None. Comparisons are
    ``grade(answer, leader)``: the leader plays the part of the gold answer.
    """
    # Per problem: bucket representatives in order of first appearance, and each answer's bucket.
    representatives: list[list[str]] = []
    answer_buckets: list[list[int | None]] = []
    for problem_answers in answers:
        bucket_of_key: dict[tuple[str, str], int] = {}
        problem_representatives: list[str] = []
        buckets: list[int | None] = []
        for answer in problem_answers:
            if not has_answer(answer):
                buckets.append(None)
                continue
            key = _bucket_key(answer)
            if key not in bucket_of_key:
                bucket_of_key[key] = len(problem_representatives)
                problem_representatives.append(answer)
            buckets.append(bucket_of_key[key])
        representatives.append(problem_representatives)
        answer_buckets.append(buckets)

    # Leader rule in rounds, all problems batched together.
    cluster_of_bucket: list[list[int | None]] = [[None] * len(reps) for reps in representatives]
    unassigned: list[list[int]] = [list(range(len(reps))) for reps in representatives]
    clusters_so_far = [0] * len(representatives)
    while any(unassigned):
        pairs: list[tuple[str, str]] = []
        asked: list[tuple[int, int]] = []  # (problem, bucket) of each pair
        for problem, pending in enumerate(unassigned):
            if not pending:
                continue
            leader = pending[0]
            cluster_of_bucket[problem][leader] = clusters_so_far[problem]
            leader_answer = representatives[problem][leader]
            for bucket in pending[1:]:
                pairs.append((representatives[problem][bucket], leader_answer))
                asked.append((problem, bucket))
        verdicts = grade_batch(pairs, conventions=conventions, pool=pool) if pairs else []
        joined = {where for where, verdict in zip(asked, verdicts, strict=True) if verdict.equivalent}
        for problem, pending in enumerate(unassigned):
            if not pending:
                continue
            for bucket in pending[1:]:
                if (problem, bucket) in joined:
                    cluster_of_bucket[problem][bucket] = clusters_so_far[problem]
            unassigned[problem] = [bucket for bucket in pending[1:] if (problem, bucket) not in joined]
            clusters_so_far[problem] += 1

    return [
        [None if bucket is None else clusters[bucket] for bucket in buckets]
        for buckets, clusters in zip(answer_buckets, cluster_of_bucket, strict=True)
    ]
