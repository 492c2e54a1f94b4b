"""Nodes of the filtering pipeline: graded generations -> SFT set, with every removed row and its reason.

Tables move between nodes as polars DataFrames (the rules are vectorized); inputs written by other
pipelines may arrive as pandas and are checked and converted first.
"""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go
import polars as pl

from openmath_kedro.params import FilteringParams
from openmath_kedro.prompts import load_prompt

from .audit import coverage_table, funnel_figure, funnel_table, funnel_text
from .decontamination import CONTAMINATION_SCHEMA, find_overlaps
from .rules import RuleInputs, apply_rules, removal_steps
from .solution_rules import uses_code
from .tables import KEYS, benchmark_of, graded_solutions, problem_frame

logger = logging.getLogger(__name__)

SOLUTION_COLUMNS = [
    "benchmark", "problem_id", "sample_index", "solution", "trimmed_chars", "uses_code", "predicted_answer",
    "model", "generation_run",
]  # fmt: skip


class EmptySFTSetError(ValueError):
    """Filtering kept no solution at all."""


def collect_evaluation_problems(*test_problems: pd.DataFrame | pl.DataFrame) -> pl.DataFrame:
    """The problems of every evaluation set in one table (``id``, ``benchmark``, ``problem``)."""
    return pl.concat(
        [
            problem_frame(table, what="evaluation problems").select("id", "benchmark", "problem")
            for table in test_problems
        ]
    )


def find_contaminated_problems(
    train_problems: pd.DataFrame | pl.DataFrame, evaluation_problems: pl.DataFrame, settings: FilteringParams
) -> pl.DataFrame:
    """Training problems that overlap an evaluation problem, one row per (training, evaluation) pair.

    A pair matches when the normalized texts are equal, or when they share at least ``threshold`` of the
    shorter problem's word ``ngram_size``-grams. Empty when decontamination is switched off.
    """
    problems = problem_frame(train_problems, what="training problems")
    decontamination = settings.decontamination
    if not decontamination.enabled:
        return pl.DataFrame(schema=CONTAMINATION_SCHEMA)
    overlaps = find_overlaps(
        problems,
        evaluation_problems,
        ngram_size=decontamination.ngram_size,
        threshold=decontamination.threshold,
    )
    logger.info(
        "decontamination %s: %d of %d training problems overlap an evaluation problem",
        benchmark_of(problems),
        overlaps["problem_id"].n_unique(),
        problems.height,
    )
    return overlaps


def filter_solutions(
    graded_generations: pd.DataFrame | pl.DataFrame,
    train_problems: pd.DataFrame | pl.DataFrame,
    contaminated_problems: pl.DataFrame,
    settings: FilteringParams,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(solutions that pass every switched-on rule, removed rows with step and reason).

    The rules are the ``filter`` ones of ``rules.RULES``, in its order: correct answer, one boxed answer,
    (the trim after the answer line), well-formed code, no failed code block, length limits, decontamination,
    no identical solution of the same problem with a lower sample index, none identical up to layout.
    """
    problems = problem_frame(train_problems, what="training problems")
    benchmark = benchmark_of(problems)
    graded = graded_solutions(graded_generations, benchmark=benchmark).rename({"generation": "solution"})
    _check_known_problems(graded, problems, benchmark=benchmark)
    frame, removed = apply_rules(
        graded.with_columns(pl.lit(0, dtype=pl.UInt32).alias("trimmed_chars")),  # the trim, when on, sets it
        stage="filter",
        inputs=RuleInputs(settings=settings, benchmark=benchmark, contaminated=contaminated_problems),
    )
    filtered = (
        frame.with_columns(uses_code(pl.col("solution")).alias("uses_code"))
        .select(SOLUTION_COLUMNS)
        .sort(KEYS)
    )
    logger.info(
        "filtering %s: %d of %d solutions pass the rules (%d problems); %d trimmed after the answer",
        benchmark,
        filtered.height,
        filtered.height + removed.height,
        filtered["problem_id"].n_unique(),
        int((filtered["trimmed_chars"] > 0).sum()),
    )
    return filtered, removed.sort(KEYS)


def select_solutions(
    filtered_solutions: pl.DataFrame,
    removed_by_filters: pl.DataFrame,
    train_problems: pd.DataFrame | pl.DataFrame,
    settings: FilteringParams,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(selected solutions with their problem text, every removed row of the benchmark).

    The ``select`` rules of ``rules.RULES``: code preference first (``any_code``/``majority_code``/``all``),
    then downsampling to ``selection.target_size[benchmark]`` (``fair`` round robin over problems or
    ``naive`` uniform), seeded.
    """
    problems = problem_frame(train_problems, what="training problems")
    benchmark = benchmark_of(problems)
    frame, removed = apply_rules(
        filtered_solutions, stage="select", inputs=RuleInputs(settings=settings, benchmark=benchmark)
    )
    selected = frame.join(
        problems.select(pl.col("id").alias("problem_id"), "problem"), on="problem_id", how="left"
    ).sort(KEYS)
    selection = settings.selection
    target = selection.target_size.get(benchmark)
    logger.info(
        "selection %s: %d solutions of %d problems (code preference %s, downsampling %s to %s)",
        benchmark,
        selected.height,
        selected["problem_id"].n_unique(),
        selection.code_preference,
        selection.downsampling,
        target if target is not None else "all",
    )
    return selected, pl.concat([removed_by_filters, removed]).sort(KEYS)


def summarize_benchmark(
    train_problems: pd.DataFrame | pl.DataFrame,
    selected_solutions: pl.DataFrame,
    removed_solutions: pl.DataFrame,
    settings: FilteringParams,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(funnel: rows and problems after each step, coverage: share of training problems kept).

    A benchmark that keeps no solution is a warning that shows its funnel (the other benchmark may still
    give data); an empty SFT set as a whole is the error (``build_sft_set``).
    """
    problems = problem_frame(train_problems, what="training problems")
    benchmark = benchmark_of(problems)
    funnel = funnel_table(
        benchmark=benchmark,
        steps=removal_steps(settings, benchmark=benchmark),
        kept=selected_solutions,
        removed=removed_solutions,
    )
    if selected_solutions.is_empty():
        message = (
            f"filtering kept no solution of {benchmark}. Rows left after each step:\n{funnel_text(funnel)}\n"
            f"Every removed row and its reason: filtering.{benchmark}.removed_solutions."
        )
        logger.warning(message)
    return funnel, coverage_table(problems=problems, kept=selected_solutions, removed=removed_solutions)


def combine_funnels(*funnels: pl.DataFrame) -> tuple[pl.DataFrame, go.Figure]:
    """All benchmarks' funnels in one table, and the plotly funnel chart of it."""
    funnel = pl.concat(funnels)
    logger.info("filtering funnel (rows after each step):\n%s", funnel_text(funnel))
    return funnel, funnel_figure(funnel)


def combine_coverage(*coverages: pl.DataFrame) -> pl.DataFrame:
    """All benchmarks' coverage tables in one."""
    return pl.concat(coverages)


def build_sft_set(settings: FilteringParams, *selected_solutions: pl.DataFrame) -> pl.DataFrame:
    """The SFT set in TRL's prompt/completion form.

    ``prompt`` is the plain render of ``filtering.prompt`` (by default ``zero_shot``, what the finetuned
    student sees at evaluation); ``completion`` is the filtered solution. Every row records the template's
    name and content hash. An empty set is an error (each benchmark's ``summarize`` has logged its funnel
    just before), unless ``allow_empty_result``.
    """
    solutions = pl.concat(selected_solutions)
    if solutions.is_empty() and not settings.allow_empty_result:
        raise EmptySFTSetError(
            "filtering kept no solution: the SFT set would be empty. The funnel of each benchmark (rows left "
            "after each step) is in the warnings above and in filtering.<benchmark>.funnel; every removed row "
            "and its reason in filtering.<benchmark>.removed_solutions. Switch rules off in "
            "parameters_filtering.yml, or set filtering.allow_empty_result=true to accept an empty result."
        )
    template = load_prompt(settings.prompt)
    problems = solutions.select("problem_id", "problem").unique("problem_id")
    prompts = problems.select(
        "problem_id",
        pl.Series(
            "prompt",
            [template.render(problem=text) for text in problems["problem"].to_list()],
            dtype=pl.String,
        ),
    )
    return (
        solutions.join(prompts, on="problem_id", how="left")
        .select(
            "prompt",
            pl.col("solution").alias("completion"),
            pl.lit(template.name).alias("prompt_name"),
            pl.lit(template.content_hash).alias("prompt_hash"),
            "benchmark",
            "problem_id",
            "sample_index",
            pl.col("model").alias("source_model"),
            "generation_run",
        )
        .sort("benchmark", *KEYS)
    )


def _check_known_problems(frame: pl.DataFrame, problems: pl.DataFrame, *, benchmark: str) -> None:
    unknown = (
        frame.select("problem_id")
        .unique()
        .join(problems.select(pl.col("id").alias("problem_id")), on="problem_id", how="anti")
    )
    if unknown.height:
        raise ValueError(
            f"graded generations ({benchmark}): {unknown.height} problem ids are not {benchmark} training "
            f"problems, e.g. {sorted(unknown['problem_id'].to_list())[0]}"
        )
