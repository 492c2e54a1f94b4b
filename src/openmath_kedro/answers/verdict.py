"""The result of grading one (prediction, gold) pair."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    EQUIVALENT = "equivalent"
    NOT_EQUIVALENT = "not_equivalent"
    NO_ANSWER = "no_answer"  # the response has no extractable answer: graded wrong, not an exception
    TIMEOUT = "timeout"  # the pair ran past its hard time limit in a worker process: graded wrong
    ERROR = "error"  # input the grader refuses (too large, unparseable gold, worker crash): graded wrong


class Stage(StrEnum):
    """Which comparison decided the verdict, cheapest first."""

    EXACT = "exact"  # identical after normalization
    CHOICE = "choice"  # multiple-choice letters
    TEXT = "text"  # word answers, case- and whitespace-insensitive
    NUMERIC = "numeric"  # rational values exactly, decimals with tolerance, percent readings
    VALUE = "value"  # constant expressions (radicals, pi, logs) at 50 digits
    STRUCTURE = "structure"  # tuples, intervals, sets, unordered lists, matrices
    EXPRESSION = "expression"  # expressions with variables, at seeded random points
    EQUATION = "equation"  # equations/inequalities compared as relations
    SYMBOLIC = "symbolic"  # sympy simplification in a worker process
    GUARD = "guard"  # refused before any heavy work (length, nesting, huge powers)
    NONE = "none"  # no stage ran (no answer, timeout)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``equivalent`` is the only field filtering needs; ``status``/``stage``/``detail`` explain it."""

    equivalent: bool
    status: Status
    stage: Stage
    detail: str = ""

    @property
    def timed_out(self) -> bool:
        return self.status is Status.TIMEOUT

    @property
    def failed(self) -> bool:
        """True when the grader could not decide (timeout or error) rather than saying "different"."""
        return self.status in (Status.TIMEOUT, Status.ERROR)

    def to_dict(self) -> dict[str, object]:
        return {
            "equivalent": self.equivalent,
            "status": str(self.status),
            "stage": str(self.stage),
            "detail": self.detail,
        }


def equivalent(stage: Stage, detail: str = "") -> Verdict:
    return Verdict(True, Status.EQUIVALENT, stage, detail)


def different(stage: Stage, detail: str = "") -> Verdict:
    return Verdict(False, Status.NOT_EQUIVALENT, stage, detail)


def refused(stage: Stage, detail: str) -> Verdict:
    return Verdict(False, Status.ERROR, stage, detail)


NO_ANSWER = Verdict(False, Status.NO_ANSWER, Stage.NONE, "no answer extracted")
