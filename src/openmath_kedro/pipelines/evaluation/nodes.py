"""Nodes of the evaluation pipeline: settings per model, benchmark and run; grading; metrics per benchmark."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from openmath_kedro.answers import conventions_for
from openmath_kedro.code_solutions import grade_solutions
from openmath_kedro.metrics import VOTE_COLUMNS, breakdown, evaluate_benchmark
from openmath_kedro.params import EvaluationParams, GenerationParams
from openmath_kedro.prompts import load_prompt

logger = logging.getLogger(__name__)


def solution_settings(
    settings: EvaluationParams, *, model: str, run: str, benchmark: str
) -> GenerationParams:
    """The generation-shaped settings of one (model, benchmark, run) for the code_solutions nodes.

    The model's engine block goes over ``evaluation.engine`` (``EvaluationParams.engine_for``: the selected
    kind's settings, merged key by key); a model ``path`` is served instead of the slot's catalog checkpoint.
    A disabled run selects no problems.
    """
    entry, run_settings, selection = (
        settings.models[model],
        getattr(settings.runs, run),
        settings.benchmarks[benchmark],
    )
    engine = settings.engine_for(model)
    if entry.path is not None:
        if not (Path(entry.path) / "config.json").is_file():
            raise ValueError(
                f"evaluation.models.{model}.path: {entry.path} is not a Hugging Face checkpoint directory "
                "(no config.json)"
            )
        engine["model"] = str(Path(entry.path).resolve())
    takes_examples = bool(load_prompt(entry.prompt).example)
    limits = [n for n in (selection.max_problems, run_settings.max_problems) if n is not None]
    return GenerationParams(
        engine=engine,
        num_samples=run_settings.num_samples,
        seed=settings.seed,
        sampling=run_settings.sampling,
        use_chat_template=entry.use_chat_template,
        interpreter=settings.interpreter,
        chunk_size=settings.chunk_size,
        batch_size=settings.batch_size,
        shard=settings.shard,
        num_shards=settings.num_shards,
        max_engine_error_share=settings.max_engine_error_share,
        benchmarks={
            benchmark: {
                "prompt": entry.prompt,
                "examples": selection.examples if takes_examples else None,
                "solution_prefix": entry.solution_prefix,
                "max_problems": (min(limits) if limits else None) if run_settings.enabled else 0,
            }
        },
    )


def grade_evaluation(
    generations: pd.DataFrame,
    problems: pd.DataFrame,
    settings: EvaluationParams,
    *,
    model: str,
    benchmark: str,
) -> pd.DataFrame:
    """Grade with the benchmark's answer conventions (its preset, then ``evaluation.benchmarks.<b>.conventions``)."""
    conventions = conventions_for(benchmark, settings.benchmarks[benchmark].conventions)
    return grade_solutions(generations, problems, conventions=conventions, label=f"{model} {benchmark}")


def summarize_benchmark(
    greedy: pd.DataFrame,
    sampled: pd.DataFrame,
    problems: pd.DataFrame,
    settings: EvaluationParams,
    *,
    model: str,
    benchmark: str,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Metrics of one model on one benchmark, one row per problem, and the vote clusters of the sampled run.

    Greedy accuracy comes from the greedy run; maj@k and pass@k (``evaluation.majority_ks``) from the
    sampled run, whose answers vote in clusters of equivalent answers (docs/metrics.md). MATH-like
    benchmarks add per-subject and per-level tables to the metrics.
    """
    conventions = conventions_for(benchmark, settings.benchmarks[benchmark].conventions)
    record: dict[str, Any] = {
        "model": model,
        "label": settings.models[model].label or model,
        "benchmark": benchmark,
    }
    tables: list[pd.DataFrame] = []
    votes = pd.DataFrame(columns=list(VOTE_COLUMNS))
    if not greedy.empty:
        result = evaluate_benchmark(
            generations=greedy, problems=_evaluated(problems, greedy), conventions=conventions
        )
        record |= result.metrics.first_sample.to_dict(name="greedy")
        record |= {"greedy_n": result.metrics.n_problems, "n_problems": result.metrics.n_problems}
        record["no_answer_rate"] = result.metrics.no_answer_rate
        first = greedy[greedy["sample_index"] == 0].set_index("problem_id")["predicted_answer"]
        tables.append(
            result.per_problem[["problem_id", "subject", "level", "expected_answer", "first_sample_correct"]]
            .rename(columns={"first_sample_correct": "greedy_correct"})
            .assign(greedy_answer=lambda table: table["problem_id"].map(first))
        )
        record["breakdown"] = _breakdowns(result.per_problem)
    ks = settings.majority_ks
    if not sampled.empty and ks:
        result = evaluate_benchmark(
            generations=sampled,
            problems=_evaluated(problems, sampled),
            majority_ks=ks,
            pass_ks=ks,
            conventions=conventions,
        )
        for k in ks:
            record |= result.metrics.majority[k].to_dict(name=f"maj@{k}") | {
                f"maj@{k}_n": result.metrics.n_problems
            }
            record |= result.metrics.pass_at[k].to_dict(name=f"pass@{k}") | {
                f"pass@{k}_n": result.metrics.n_problems
            }
        record["sampled_no_answer_rate"] = result.metrics.no_answer_rate
        record["samples_per_problem"] = result.metrics.samples_per_problem
        sampled_columns = [c for c in result.per_problem.columns if c.startswith(("maj@", "pass@"))]
        tables.append(
            result.per_problem[["problem_id", "n_samples", "n_answered", "n_correct", *sampled_columns]]
        )
        votes = result.votes
    per_problem = _merge_on_problem(tables).assign(model=model, benchmark=benchmark)
    logger.info("evaluation %s %s: %s", model, benchmark, _describe(record))
    return record, per_problem, votes


def _evaluated(problems: pd.DataFrame, generations: pd.DataFrame) -> pd.DataFrame:
    """The problems a run generated for (a subset when max_problems is set)."""
    return problems[problems["id"].isin(set(generations["problem_id"]))]


def _merge_on_problem(tables: list[pd.DataFrame]) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame(columns=["problem_id"])
    merged = tables[0]
    for table in tables[1:]:
        merged = merged.merge(table, on="problem_id", how="outer")
    return merged


def _breakdowns(per_problem: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Greedy accuracy per MATH subject and level (empty for benchmarks without them)."""
    tables = {}
    for column in ("subject", "level"):
        if column in per_problem and per_problem[column].notna().any():
            table = breakdown(per_problem=per_problem[[column, "first_sample_correct"]], by=column)
            tables[column] = table.rename(columns=lambda c: c.replace("first_sample", "greedy")).to_dict(
                "records"
            )
    return tables


def _describe(record: dict[str, Any]) -> str:
    parts = [f"{record.get('n_problems', 0)} problems"]
    for key, value in record.items():
        if (key == "greedy" or key.startswith("maj@")) and isinstance(value, float) and "_" not in key:
            parts.append(f"{key} {value:.3f}")
    return ", ".join(parts)
