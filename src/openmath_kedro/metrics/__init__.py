"""Evaluation metrics (no Kedro import): answer clusters, greedy / majority@k / pass@k accuracy with 95%
intervals, per-subject and per-level tables, and paired comparisons of two models.

Definitions (tie rule, estimators, intervals, the paired test) are in docs/metrics.md.
"""

from openmath_kedro.metrics.clustering import ClusterLabels, cluster_answers, has_answer
from openmath_kedro.metrics.estimators import MajorityVote, majority_vote, pass_at_k
from openmath_kedro.metrics.intervals import (
    DEFAULT_CONFIDENCE,
    Accuracy,
    accuracy,
    mean_accuracy,
    wilson_interval,
)
from openmath_kedro.metrics.paired import PairedComparison, compare_paired, mcnemar_exact_p
from openmath_kedro.metrics.tables import (
    GENERATION_COLUMNS,
    PROBLEM_COLUMNS,
    VOTE_COLUMNS,
    BenchmarkEvaluation,
    BenchmarkMetrics,
    breakdown,
    evaluate_benchmark,
)

__all__ = [
    "DEFAULT_CONFIDENCE",
    "GENERATION_COLUMNS",
    "PROBLEM_COLUMNS",
    "VOTE_COLUMNS",
    "Accuracy",
    "BenchmarkEvaluation",
    "BenchmarkMetrics",
    "ClusterLabels",
    "MajorityVote",
    "PairedComparison",
    "accuracy",
    "breakdown",
    "cluster_answers",
    "compare_paired",
    "evaluate_benchmark",
    "has_answer",
    "majority_vote",
    "mcnemar_exact_p",
    "mean_accuracy",
    "pass_at_k",
    "wilson_interval",
]
