"""Inspector interaction latency on a 1.8M-solution generations table: the app's polars view against pandas.

A synthetic graded generations table with OpenMathInstruct-1's shape (1.8M solutions over 7,473 GSM8K and 7,500
MATH training problems, 120 per problem, solution texts of ~500 / ~900 characters with code blocks and outputs,
answers, verdicts, finish reasons, code errors) is built in memory. Then each interaction of the Analyze page is
timed the way the app runs it (``openmath_kedro.inspector.tables``: the per-problem aggregate of a filter set,
a page of 25 problems, the solutions of one problem), cold (first time for that filter set) and warm (the
aggregate cached, as when paging or sorting), against a vectorized pandas implementation of the same
interaction in the same run (boolean masks, groupby sums, vote counts sorted once for the majority, sort, slice).

Each figure is the median of ``--repeats`` runs (pandas: one run each). The goal: every interaction under one
second. Opening the dataset is measured too, once: the graded table written as the project stores it (JSON Lines,
openmath_kedro.datasets.JSONLinesDataset), loaded by that dataset as ``catalog.load`` does, then normalized to the
app's polars frame; opening happens once per dataset (the app caches the frame until the file changes).

    .venv/bin/python benchmarks/inspector_latency.py [--solutions 1800000] [--repeats 3] [--skip-pandas] [--skip-open]

Prints one JSON object. Figures on this project's 2-core machine (1,796,760 solutions, 1.25 GB of text; load
average 3.7 from other jobs): polars view, filter change (cold) 0.08-0.47 s, the slowest a case-insensitive search
of the solution texts; next page / sort on the cached aggregate 0.5-9 ms; one problem's solutions 14 ms. Vectorized
pandas: 0.36-28 s for the same interactions. Opening the table once as the catalog does (1.65 GB JSON Lines):
JSONLinesDataset.load 32.3 s, normalizing to the app's frame 0.9 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openmath_kedro.inspector.tables import Filters, TableView, normalize, page  # noqa: E402

TRAINING_PROBLEMS = {"gsm8k": 7473, "math": 7500}
MATH_SUBJECTS = [
    "Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory", "Prealgebra",
    "Precalculus",
]  # fmt: skip
FINISH_REASONS = ["stop", "length", "code_error", "max_code_rounds", "broken_code"]


def synthetic_generations(total: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(graded generations, problems) with the shape of OpenMathInstruct-1's graded training solutions."""
    rng = np.random.default_rng(seed)
    problem_ids = [f"{b}/train/{i}" for b, n in TRAINING_PROBLEMS.items() for i in range(n)]
    per_problem = max(1, total // len(problem_ids))
    n = per_problem * len(problem_ids)
    problem_index = np.repeat(np.arange(len(problem_ids)), per_problem)
    is_math = problem_index >= TRAINING_PROBLEMS["gsm8k"]
    difficulty = rng.random(len(problem_ids))[problem_index]
    is_correct = rng.random(n) < difficulty
    no_answer = (~is_correct) & (rng.random(n) < 0.3)
    gold = rng.integers(0, 1000, len(problem_ids))[problem_index]
    wrong = gold + rng.integers(1, 6, n)
    answer = np.where(is_correct, gold, wrong).astype(str)
    uses_code = rng.random(n) < 0.7
    code_errors = (uses_code & (rng.random(n) < 0.08)).astype(np.int64)
    finish = np.array(FINISH_REASONS)[rng.choice(len(FINISH_REASONS), n, p=[0.8, 0.08, 0.06, 0.03, 0.03])]
    filler = np.where(is_math, 760, 360)  # with the code block: ~500 (GSM8K) and ~900 (MATH) characters
    frame = pl.DataFrame(
        {
            "problem_id": np.array(problem_ids)[problem_index],
            "sample_index": np.tile(np.arange(per_problem), len(problem_ids)),
            "model": "teacher",
            "answer": answer,
            "uses_code": uses_code,
            "no_answer": no_answer,
            "is_correct": is_correct,
            "code_errors": code_errors,
            "finish_reason": finish,
            "filler": filler,
            "tokens_out": rng.integers(50, 400, n),
        }
    )
    prose = "Let $x$ be the number of apples, so $x + 3 = 2x - 5$ and we solve for $x$ step by step. " * 10
    code = "<llm-code>\nfrom sympy import symbols, solve\nx = symbols('x')\nprint(solve(x + 3 - (2*x - 5), x))\n</llm-code>\n<llm-code-output>\n[8]\n</llm-code-output>\n"
    text = (
        pl.lit(prose).str.slice(0, pl.col("filler"))
        + pl.when(pl.col("uses_code")).then(pl.lit(code)).otherwise(pl.lit(""))
        + pl.when(pl.col("no_answer"))
        .then(pl.lit("I am not sure."))
        .otherwise(pl.lit("So the answer is $\\boxed{") + pl.col("answer") + pl.lit("}$."))
    )
    generations = frame.select(
        "problem_id",
        "sample_index",
        "model",
        pl.lit("vllm").alias("engine"),
        text.alias("generation"),
        pl.col("uses_code").cast(pl.Int64).alias("num_code_calls"),
        "code_errors",
        "finish_reason",
        "tokens_out",
        pl.when(pl.col("no_answer")).then(None).otherwise(pl.col("answer")).alias("predicted_answer"),
        pl.col("is_correct"),
    )
    subject = np.array(MATH_SUBJECTS)[rng.integers(0, len(MATH_SUBJECTS), len(problem_ids))]
    problems = pl.DataFrame(
        {
            "problem_id": problem_ids,
            "problem": [
                f"Problem {i}: find $x$ if $x + 3 = 2x - {i % 17}$." for i in range(len(problem_ids))
            ],
            "expected_answer": [str(g) for g in rng.integers(0, 1000, len(problem_ids))],
            "subject": [
                s if p.startswith("math") else None for s, p in zip(subject, problem_ids, strict=True)
            ],
            "level": [
                int(v) if p.startswith("math") else None
                for v, p in zip(rng.integers(1, 6, len(problem_ids)), problem_ids, strict=True)
            ],
        }
    )
    return generations, problems


def timed(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs), 4)


INTERACTIONS: dict[str, dict] = {
    "open dataset (no filter)": {},
    "outcome = incorrect": {"outcomes": ["incorrect"]},
    "benchmark = math, code errors": {"benchmarks": ["math"], "code_errors": "some"},
    "finish reason = length": {"finish_reasons": ["length"]},
    "search solutions for 'sympy'": {"solution_search": "sympy"},
    "MATH subject + level (problem-level)": {"subjects": ["Geometry"], "levels": [5]},
    "search problems for 'x + 3'": {"problem_search": "x + 3"},
}


def polars_interactions(view: TableView, repeats: int) -> dict[str, dict[str, float]]:
    results = {}
    for name, values in INTERACTIONS.items():
        filters = Filters.from_values(**values)

        def cold(filters: Filters = filters) -> None:
            view._aggregates.clear()
            page(view.problem_table(filters), offset=0, limit=25).to_dicts()

        def warm_page(filters: Filters = filters) -> None:
            table = view.problem_table(filters)
            page(table, sort_by="accuracy", descending=True, offset=250, limit=25).to_dicts()

        results[name] = {"filter (cold)": timed(cold, repeats)}
        view.problem_table(filters)
        results[name]["next page / sort (warm)"] = timed(warm_page, repeats)
    results["open one problem's solutions"] = {
        "slice": timed(lambda: view.solutions("math/train/4321").to_dicts(), repeats)
    }
    return results


def pandas_interactions(
    generations: pl.DataFrame, problems: pl.DataFrame, repeats: int
) -> dict[str, dict[str, float]]:
    """The same interactions in vectorized pandas (boolean masks, groupby sums, vote counts sorted once)."""
    frame = generations.to_pandas()
    frame["benchmark"] = frame["problem_id"].str.split("/").str[0]
    frame["outcome"] = np.where(
        frame["is_correct"], "correct", np.where(frame["predicted_answer"].isna(), "no answer", "incorrect")
    )
    info = problems.to_pandas()

    def run(values: dict) -> None:
        rows = frame
        if values.get("outcomes"):
            rows = rows[rows["outcome"].isin(values["outcomes"])]
        if values.get("benchmarks"):
            rows = rows[rows["benchmark"].isin(values["benchmarks"])]
        if values.get("code_errors") == "some":
            rows = rows[rows["code_errors"] > 0]
        if values.get("finish_reasons"):
            rows = rows[rows["finish_reason"].isin(values["finish_reasons"])]
        if values.get("solution_search"):
            rows = rows[rows["generation"].str.contains(values["solution_search"], case=False, regex=False)]
        grouped = (
            rows.assign(correct=rows["outcome"] == "correct", no_answer=rows["outcome"] == "no answer")
            .groupby("problem_id")
            .agg(samples=("sample_index", "size"), correct=("correct", "sum"), no_answer=("no_answer", "sum"))
        )
        votes = rows.dropna(subset=["predicted_answer"]).groupby(["problem_id", "predicted_answer"]).size()
        majority = (
            votes.rename("votes")
            .reset_index()
            .sort_values(["problem_id", "votes", "predicted_answer"], ascending=[True, False, True])
            .drop_duplicates("problem_id")
            .set_index("problem_id")["predicted_answer"]
        )
        table = (
            grouped.join(majority.rename("majority_answer"))
            .reset_index()
            .merge(info, on="problem_id", how="left")
        )
        if values.get("subjects"):
            table = table[table["subject"].isin(values["subjects"]) & table["level"].isin(values["levels"])]
        if values.get("problem_search"):
            table = table[table["problem"].str.contains(values["problem_search"], case=False, regex=False)]
        table.sort_values("problem_id").iloc[:25].to_dict("records")

    results = {name: {"filter": timed(lambda v=values: run(v), 1)} for name, values in INTERACTIONS.items()}
    results["open one problem's solutions"] = {
        "slice": timed(lambda: frame[frame["problem_id"] == "math/train/4321"].to_dict("records"), 1)
    }
    return results


def open_through_dataset(generations: pl.DataFrame) -> dict[str, float]:
    """Seconds to load the table as the catalog does (JSONLinesDataset) and to normalize it for the app."""
    import tempfile

    from openmath_kedro.datasets import JSONLinesDataset

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graded_generations.jsonl"
        started = time.perf_counter()
        generations.write_ndjson(path)
        written = time.perf_counter() - started
        size_gb = path.stat().st_size / 1e9
        started = time.perf_counter()
        table = JSONLinesDataset(filepath=str(path)).load()
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        normalize(table)
        normalized = time.perf_counter() - started
    return {
        "file_gb": round(size_gb, 2),
        "write_s (setup, not measured by the app)": round(written, 1),
        "JSONLinesDataset.load_s": round(loaded, 1),
        "normalize_s": round(normalized, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solutions", type=int, default=1_800_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-open", action="store_true", help="do not measure opening a JSON Lines table")
    args = parser.parse_args()

    started = time.perf_counter()
    generations, problems = synthetic_generations(args.solutions)
    built = time.perf_counter() - started
    started = time.perf_counter()
    view = TableView(frame=normalize(generations), problems=problems, solution_set_name="training.bench")
    normalized = time.perf_counter() - started
    report = {
        "solutions": generations.height,
        "problems": problems.height,
        "text_mb": round(generations.get_column("generation").str.len_bytes().sum() / 1e6, 1),
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "build_table_s": round(built, 2),
        "normalize_once_s": round(normalized, 2),
        "polars_view": polars_interactions(view, args.repeats),
    }
    if not args.skip_pandas:
        report["pandas_baseline"] = pandas_interactions(generations, problems, args.repeats)
    if not args.skip_open:
        report["open_dataset_once"] = open_through_dataset(generations)
    worst = max(v for interaction in report["polars_view"].values() for v in interaction.values())
    report["polars_worst_interaction_s"] = worst
    report["goal_s"] = 1.0
    report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
