"""Answer extraction and equivalence for grading math solutions (no Kedro import).

See README.md in this folder for the API, the stages, verdicts, time limits and conventions.
"""

from openmath_kedro.answers.conventions import (
    BENCHMARK_CONVENTIONS,
    MODEL_OUTPUT,
    REFERENCE_SOLUTIONS,
    UNBOXED_FALLBACKS,
    UNBOXED_MODEL_OUTPUT,
    AnswerConventions,
    conventions_for,
)
from openmath_kedro.answers.equivalence import compare_answers
from openmath_kedro.answers.extraction import extract_answer, extract_boxed_answer, find_boxed_answers
from openmath_kedro.answers.grading import (
    GRADER_VERSION,
    GradedResponse,
    grade,
    grade_batch,
    grade_responses,
    is_equivalent,
    shared_symbolic_pool,
)
from openmath_kedro.answers.normalization import normalize_answer
from openmath_kedro.answers.verdict import Stage, Status, Verdict
from openmath_kedro.answers.worker_pool import DeadlinePool

__all__ = [
    "BENCHMARK_CONVENTIONS",
    "GRADER_VERSION",
    "MODEL_OUTPUT",
    "REFERENCE_SOLUTIONS",
    "UNBOXED_FALLBACKS",
    "UNBOXED_MODEL_OUTPUT",
    "AnswerConventions",
    "DeadlinePool",
    "GradedResponse",
    "Stage",
    "Status",
    "Verdict",
    "compare_answers",
    "conventions_for",
    "extract_answer",
    "extract_boxed_answer",
    "find_boxed_answers",
    "grade",
    "grade_batch",
    "grade_responses",
    "is_equivalent",
    "normalize_answer",
    "shared_symbolic_pool",
]
