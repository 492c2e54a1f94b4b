"""Per-benchmark answer conventions: plain frozen dataclasses the pipeline parameters can feed."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

BoxPolicy = Literal["last", "first", "join", "unique"]
"""What to do with several ``\\boxed{}`` in one response.

``last`` (the original recipe), ``first``, ``join`` (all distinct boxes as one comma-separated answer, for
responses that box each solution separately) or ``unique`` (no answer when the boxes disagree).
"""

FALLBACK_NAMES = ("gsm8k_hash", "answer_is", "final_answer", "last_math", "last_number")
"""Extraction fallbacks tried, in the configured order, when a text has no box.

``gsm8k_hash``: a final ``#### 42`` line (GSM8K reference solutions). ``answer_is``: "The answer is ..." to
the end of its line. ``final_answer``: the last answer statement ("Final answer: 7", "The final answer is
$\\frac12$. I hope it is correct.", "**Answer:** $7$", "the result is 12"), its first math span or its first
sentence. ``last_math``: the last display or inline math (``\\[ x = 3 \\]``, ``$$...$$``, ``\\(...\\)``,
``$3$``). ``last_number``: the last number in the text (lenient; the last resort).
"""

UNBOXED_FALLBACKS = ("final_answer", "last_math", "last_number")
"""The extraction order for models that do not follow the box convention (released and chat models). The
recipe's own generations keep the box-only default (``MODEL_OUTPUT``): its training-data filter must not
read a solution's answer from prose."""


@dataclass(frozen=True, slots=True)
class AnswerConventions:
    """How answers of one benchmark are written and compared.

    The defaults follow the original recipe for model outputs: the last box, no fallbacks.
    """

    box_policy: BoxPolicy = "last"
    fallbacks: tuple[str, ...] = ()
    # Letters a multiple-choice answer may use; empty means bare letters are ordinary symbols.
    choice_letters: str = ""
    # Compare word answers ("yes", "Brandon", "increased") case- and whitespace-insensitively.
    text_answers: bool = True
    # Relative tolerance used when a decimal literal is involved; exact values compare exactly.
    rel_tol: float = 1e-6
    # Read "25\\%" also as 0.25 (only when one side carries a percent sign).
    percent_reading: bool = True
    # Hard wall-clock limit per pair for the stages that run in worker processes.
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.box_policy not in ("last", "first", "join", "unique"):
            raise ValueError(f"box_policy must be last, first, join or unique, not {self.box_policy!r}")
        unknown = [name for name in self.fallbacks if name not in FALLBACK_NAMES]
        if unknown:
            raise ValueError(f"unknown extraction fallbacks {unknown}; known: {list(FALLBACK_NAMES)}")
        if not 0 <= self.rel_tol < 1:
            raise ValueError(f"rel_tol must be in [0, 1), not {self.rel_tol}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {self.timeout_s}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, /, **overrides: Any) -> AnswerConventions:
        """Build from a parameters block; unknown keys are an error so typos do not pass silently."""
        merged = {**(values or {}), **overrides}
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ValueError(f"unknown answer convention keys {unknown}; known: {sorted(known)}")
        if "fallbacks" in merged:
            merged["fallbacks"] = tuple(merged["fallbacks"])
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def with_changes(self, **changes: Any) -> AnswerConventions:
        return replace(self, **changes)


MODEL_OUTPUT = AnswerConventions()
UNBOXED_MODEL_OUTPUT = AnswerConventions(fallbacks=UNBOXED_FALLBACKS)

BENCHMARK_CONVENTIONS: dict[str, AnswerConventions] = {
    # Model outputs: boxed answers only, as in the original recipe; presets say how golds are written.
    "gsm8k": AnswerConventions(),
    "math": AnswerConventions(),
    "tabmwp": AnswerConventions(text_answers=True),
    "aqua": AnswerConventions(choice_letters="ABCDE"),
}
"""Defaults per benchmark; a pipeline's parameters override them field by field."""

REFERENCE_SOLUTIONS: dict[str, AnswerConventions] = {
    # Reference solutions carry their answer in a benchmark-specific place.
    "gsm8k": AnswerConventions(fallbacks=("gsm8k_hash",)),
    "math": AnswerConventions(),
}


def conventions_for(benchmark: str, overrides: dict[str, Any] | None = None) -> AnswerConventions:
    """The preset for ``benchmark`` (or the model-output default) with ``overrides`` applied."""
    base = BENCHMARK_CONVENTIONS.get(benchmark, MODEL_OUTPUT)
    return AnswerConventions.from_dict({**base.to_dict(), **(overrides or {})})
