"""Per-benchmark answer conventions: small frozen pydantic models the pipeline parameters can feed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class AnswerConventions(BaseModel):
    """How answers of one benchmark are written and compared.

    The defaults follow the original recipe for model outputs: the last box, no fallbacks. Frozen and
    hashable: the grader memoizes verdicts per (prediction, gold, conventions).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    box_policy: BoxPolicy = "last"
    fallbacks: tuple[str, ...] = Field(
        default=(), description="extraction fallbacks in order (FALLBACK_NAMES)"
    )
    choice_letters: str = Field(
        default="", description="letters a multiple-choice answer may use; empty: bare letters are symbols"
    )
    text_answers: bool = Field(
        default=True,
        description='compare word answers ("yes", "Brandon", "increased") case- and whitespace-insensitively',
    )
    rel_tol: float = Field(
        default=1e-6,
        ge=0,
        lt=1,
        description="relative tolerance when a decimal literal is involved; exact values compare exactly",
    )
    percent_reading: bool = Field(
        default=True, description='read "25\\%" also as 0.25 (only when one side carries a percent sign)'
    )
    timeout_s: float = Field(
        default=5.0, gt=0, description="hard wall-clock limit per pair for the stages run in worker processes"
    )

    @field_validator("fallbacks")
    @classmethod
    def _known_fallbacks(cls, fallbacks: tuple[str, ...]) -> tuple[str, ...]:
        # one message listing every unknown name and the known ones, rather than one error per item
        if unknown := [name for name in fallbacks if name not in FALLBACK_NAMES]:
            raise ValueError(f"unknown extraction fallbacks {unknown}; known: {list(FALLBACK_NAMES)}")
        return fallbacks

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, /, **overrides: Any) -> AnswerConventions:
        """Build from a parameters block; a ValueError naming every unknown key or wrong value, in one line
        (it ends up in the parameter checks' report), so typos do not pass silently."""
        try:
            return cls.model_validate({**(values or {}), **overrides})
        except ValidationError as error:
            raise ValueError(_describe(error)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def with_changes(self, **changes: Any) -> AnswerConventions:
        """A validated copy (``model_copy(update=...)`` would not check the changes)."""
        return self.from_dict(self.to_dict(), **changes)


def _describe(error: ValidationError) -> str:
    """The unknown keys together (with the known ones), then every wrong value with its field."""
    items = error.errors()
    problems = [
        f"{'.'.join(map(str, item['loc']))}: {item['msg'].removeprefix('Value error, ')}"
        for item in items
        if item["type"] != "extra_forbidden"
    ]
    if unknown := sorted(str(item["loc"][0]) for item in items if item["type"] == "extra_forbidden"):
        known = sorted(AnswerConventions.model_fields)
        problems.insert(0, f"unknown answer convention keys {unknown}; known: {known}")
    return "; ".join(problems)


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
