"""The filtering rules in order, as one table: the filter and select nodes apply it, the funnel counts its steps.

Each graded row leaves at the first switched-on rule whose ``flag`` marks it, with that rule's ``reason``, or
is kept. ``flag`` and ``reason`` are polars expressions over the rows still in. What they read that is not a
plain expression (a window over a problem's solutions, the contamination join, a count in Python, the
downsampling draw, a parameter) a rule's ``columns`` adds first; those columns go again after the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from openmath_kedro.params import FilteringParams

from .decontamination import CONTAMINATION_SCHEMA
from .selection import downsampling_keep, with_code_preference
from .solution_rules import (
    boxed_answer_counts,
    code_error_flags,
    code_tag_sequence,
    code_tags_well_formed,
    near_duplicate_key,
    trimmed_after_answer,
)
from .tables import empty_removed, remove_rows

Stage = Literal["filter", "select"]  # the node that applies a rule
TEXT = pl.col("solution")


@dataclass(frozen=True)
class RuleInputs:
    """What a rule's ``columns`` may read besides the rows."""

    settings: FilteringParams
    benchmark: str
    # the select node knows of none: its rows passed decontamination already
    contaminated: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CONTAMINATION_SCHEMA))


@dataclass(frozen=True, eq=False)  # eq=False: `==` on polars expressions builds an expression, not a bool
class Rule:
    """A removal step: the rows ``flag`` marks leave, each with ``reason`` (the audit's text for it).

    ``reason`` is evaluated on the removed rows alone, so it must not use window functions (``remove_rows``).
    """

    name: str
    stage: Stage
    enabled: Callable[[FilteringParams, str], bool]  # (parameters, benchmark)
    flag: pl.Expr
    reason: pl.Expr
    columns: Callable[[pl.DataFrame, RuleInputs], pl.DataFrame] | None = None


@dataclass(frozen=True)
class Rewrite:
    """A change to the rows still in, between two rules; no row leaves, so the funnel has no step for it."""

    name: str
    stage: Stage
    enabled: Callable[[FilteringParams, str], bool]
    apply: Callable[[pl.DataFrame], pl.DataFrame]


def _boxed_answers(frame: pl.DataFrame, _: RuleInputs) -> pl.DataFrame:
    return frame.with_columns(boxed_answer_counts(frame["solution"]))


def _trimmed(frame: pl.DataFrame) -> pl.DataFrame:
    """The text cut after the answer line; ``trimmed_chars`` says how much went."""
    return (
        frame.with_columns(trimmed_after_answer(TEXT).alias("trimmed"))
        .with_columns(
            (TEXT.str.len_chars() - pl.col("trimmed").str.len_chars()).alias("trimmed_chars"),
            pl.col("trimmed").alias("solution"),
        )
        .drop("trimmed")
    )


def _failed_code(frame: pl.DataFrame, _: RuleInputs) -> pl.DataFrame:
    # the frame decides where failures are read from (code_errors, or the text when the column is empty)
    return frame.with_columns(code_error_flags(frame, TEXT).alias("failed_code"))


def _length_limits(frame: pl.DataFrame, inputs: RuleInputs) -> pl.DataFrame:
    """``min_chars`` (0 when unset) and ``max_chars`` (null when unset: no row is above it)."""
    rules = inputs.settings.filters
    return frame.with_columns(
        pl.lit(rules.min_chars or 0, dtype=pl.Int64).alias("min_chars"),
        pl.lit(rules.max_chars, dtype=pl.Int64).alias("max_chars"),
    )


def _best_overlap(frame: pl.DataFrame, inputs: RuleInputs) -> pl.DataFrame:
    """The evaluation problem each contaminated problem overlaps most (``test_id``, ``match``, ``overlap``)."""
    best = (
        inputs.contaminated.sort("overlap", descending=True, maintain_order=True)
        .group_by("problem_id", maintain_order=True)
        .first()
    )
    return frame.join(best.select("problem_id", "test_id", "match", "overlap"), on="problem_id", how="left")


def _first_copy(key: pl.Expr) -> Callable[[pl.DataFrame, RuleInputs], pl.DataFrame]:
    """``first_copy``: the lowest sample index among the problem's solutions with the same ``key``."""

    def columns(frame: pl.DataFrame, _: RuleInputs) -> pl.DataFrame:
        return frame.with_columns(pl.col("sample_index").min().over("problem_id", key).alias("first_copy"))

    return columns


def _code_preference(frame: pl.DataFrame, inputs: RuleInputs) -> pl.DataFrame:
    return with_code_preference(frame, mode=inputs.settings.selection.code_preference)


def _downsampling_draw(frame: pl.DataFrame, inputs: RuleInputs) -> pl.DataFrame:
    """``keep``: whether the seeded draw chose the row, with the method and target the reason names."""
    selection = inputs.settings.selection
    target = selection.target_size[inputs.benchmark]
    keep = downsampling_keep(
        frame, method=selection.downsampling, target=target, seed=selection.seed, benchmark=inputs.benchmark
    )
    return frame.with_columns(
        keep, pl.lit(selection.downsampling).alias("downsampling"), pl.lit(target).alias("target_size")
    )


def _has_length_limits(params: FilteringParams, _: str) -> bool:
    return params.filters.min_chars is not None or params.filters.max_chars is not None


RULES: tuple[Rule | Rewrite, ...] = (
    Rule(
        name="correct_answer",
        stage="filter",
        enabled=lambda params, _: params.filters.correct_only,
        flag=~pl.col("is_correct"),
        reason=pl.when(pl.col("predicted_answer").is_null())
        .then(pl.lit("no answer found"))
        .otherwise(pl.format("answer '{}' is not correct", pl.col("predicted_answer").str.head(80))),
    ),
    Rule(
        name="one_boxed_answer",
        stage="filter",
        enabled=lambda params, _: params.filters.single_boxed_answer,
        columns=_boxed_answers,
        flag=pl.col("boxed_answers") != 1,
        reason=pl.when(pl.col("boxed_answers") == 0)
        .then(pl.lit("no \\boxed{} answer"))
        .otherwise(pl.concat_str(pl.col("boxed_answers"), pl.lit(" \\boxed{} answers"))),
    ),
    Rewrite(
        name="trim_after_answer",
        stage="filter",
        enabled=lambda params, _: params.filters.trim_after_answer,
        apply=_trimmed,
    ),
    Rule(
        name="well_formed_code",
        stage="filter",
        enabled=lambda params, _: params.filters.well_formed_code,
        flag=~code_tags_well_formed(TEXT),
        reason=pl.format("code tags out of order or unclosed: {}", code_tag_sequence(TEXT)),
    ),
    Rule(
        name="no_code_errors",
        stage="filter",
        enabled=lambda params, _: params.filters.drop_code_errors,
        columns=_failed_code,
        flag=pl.col("failed_code"),
        reason=pl.when(pl.col("code_errors").fill_null(0) > 0)
        .then(pl.format("{} code block(s) failed", pl.col("code_errors")))
        .when(pl.col("finish_reason") == "code_error")
        .then(pl.lit("generation ended at a code error"))
        .otherwise(pl.lit("an error in a code output")),
    ),
    Rule(
        name="length_limits",
        stage="filter",
        enabled=_has_length_limits,
        columns=_length_limits,
        # null max_chars: the comparison is null, which remove_rows reads as "keep"
        flag=(TEXT.str.len_chars() < pl.col("min_chars")) | (TEXT.str.len_chars() > pl.col("max_chars")),
        reason=pl.format(
            "{} characters, outside [{}, {}]",
            TEXT.str.len_chars(),
            "min_chars",
            pl.col("max_chars").cast(pl.String).fill_null("none"),
        ),
    ),
    Rule(
        name="decontaminated",
        stage="filter",
        enabled=lambda params, _: params.decontamination.enabled,
        columns=_best_overlap,
        flag=pl.col("test_id").is_not_null(),
        reason=pl.format(
            "problem overlaps {} ({} match, overlap {})", "test_id", "match", pl.col("overlap").round(2)
        ),
    ),
    Rule(
        name="unique_text",
        stage="filter",
        enabled=lambda params, _: params.filters.exact_duplicates,
        # a 64-bit hash stands for the text: a collision within one problem's solutions is not a real risk
        columns=_first_copy(TEXT.hash(seed=0)),
        flag=pl.col("sample_index") != pl.col("first_copy"),
        reason=pl.format("same text as sample {}", "first_copy"),
    ),
    Rule(
        name="unique_up_to_layout",
        stage="filter",
        enabled=lambda params, _: params.filters.near_duplicates,
        columns=_first_copy(near_duplicate_key(TEXT)),
        flag=pl.col("sample_index") != pl.col("first_copy"),
        reason=pl.format("same text as sample {} up to spaces, newlines and $", "first_copy"),
    ),
    Rule(
        name="code_preference",
        stage="select",
        enabled=lambda params, _: params.selection.code_preference != "all",
        columns=_code_preference,
        flag=~pl.col("uses_code") & pl.col("prefer_code"),
        reason=pl.format(
            "text solution; {} of the problem's {} solutions use code ({})",
            "code_solutions",
            "solutions",
            "code_preference",
        ),
    ),
    Rule(
        name="downsampling",
        stage="select",
        enabled=lambda params, benchmark: params.selection.target_size.get(benchmark) is not None,
        columns=_downsampling_draw,
        flag=~pl.col("keep"),
        reason=pl.format("not chosen by {} downsampling to {} solutions", "downsampling", "target_size"),
    ),
)
REMOVAL_STEPS = tuple(rule for rule in RULES if isinstance(rule, Rule))
SELECTION_STEPS = tuple(rule.name for rule in REMOVAL_STEPS if rule.stage == "select")


def apply_rules(
    frame: pl.DataFrame, *, stage: Stage, inputs: RuleInputs
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, rows removed with step and reason) after the switched-on rules of ``stage``, in order."""
    removed = []
    for rule in RULES:
        if rule.stage != stage or not rule.enabled(inputs.settings, inputs.benchmark):
            continue
        if isinstance(rule, Rewrite):
            frame = rule.apply(frame)
            continue
        with_columns = rule.columns(frame, inputs) if rule.columns is not None else frame
        kept, gone = remove_rows(with_columns, step=rule.name, drop=rule.flag, reason=rule.reason)
        frame = kept.select(frame.columns)
        removed.append(gone)
    return frame, pl.concat(removed) if removed else empty_removed()


def removal_steps(settings: FilteringParams, *, benchmark: str) -> list[tuple[str, bool]]:
    """Every removal step in order, with whether the parameters switch it on: the funnel's rows."""
    return [(rule.name, rule.enabled(settings, benchmark)) for rule in REMOVAL_STEPS]
