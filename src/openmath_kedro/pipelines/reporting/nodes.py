"""Nodes of the reporting pipeline: the results table, the paired comparison of two models, charts."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from openmath_kedro.metrics import compare_paired
from openmath_kedro.params import ReportingParams

METRIC_NAME = re.compile(r"^(greedy|maj@\d+|pass@\d+)$")
COMPARISON_COLUMNS = [
    "benchmark", "metric", "reference", "candidate", "n_problems", "reference_accuracy", "candidate_accuracy",
    "difference", "difference_low", "difference_high", "reference_only_correct", "candidate_only_correct",
    "mcnemar_p",
]  # fmt: skip
TABLE_COLUMNS = ["model", "label", "benchmark", "metric", "k", "value", "low", "high", "n_problems"]
ALL_BENCHMARKS = "all"  # the pooled row of the paired comparison: every problem of every benchmark


def compare_models(settings: ReportingParams, *problem_results: pd.DataFrame) -> pd.DataFrame:
    """Candidate minus reference on the same problems, per benchmark and pooled: greedy and the largest maj@k.

    Each difference has a paired-bootstrap 95% interval and an exact McNemar p-value (docs/metrics.md).
    """
    reference, candidate = settings.compare
    evaluated = [table for table in problem_results if not table.empty]
    if not evaluated:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    results = pd.concat(evaluated, ignore_index=True)
    rows = []
    majority = sorted(
        (c for c in results.columns if re.fullmatch(r"maj@\d+_correct", c)), key=lambda c: int(c[4:-8])
    )
    for column in ["greedy_correct", *majority[-1:]]:
        if column not in results:
            continue
        for benchmark in [*sorted(results["benchmark"].unique()), ALL_BENCHMARKS]:
            scope = results if benchmark == ALL_BENCHMARKS else results[results["benchmark"] == benchmark]
            scores = {
                model: scope[(scope["model"] == model) & scope[column].notna()].set_index("problem_id")[
                    column
                ]
                for model in (reference, candidate)
            }
            shared = scores[reference].index.intersection(scores[candidate].index)
            if shared.empty:
                continue
            comparison = compare_paired(
                baseline=scores[reference].loc[shared].astype(bool),
                candidate=scores[candidate].loc[shared].astype(bool),
                resamples=settings.bootstrap_samples,
                seed=settings.seed,
            )
            values = comparison.to_dict()
            rows.append(
                {
                    "benchmark": benchmark,
                    "metric": column.removesuffix("_correct"),
                    "reference": reference,
                    "candidate": candidate,
                    "n_problems": values["n_problems"],
                    "reference_accuracy": values["baseline_accuracy"],
                    "candidate_accuracy": values["candidate_accuracy"],
                    "difference": values["difference"],
                    "difference_low": values["difference_low"],
                    "difference_high": values["difference_high"],
                    "reference_only_correct": values["baseline_only_correct"],
                    "candidate_only_correct": values["candidate_only_correct"],
                    "mcnemar_p": values["mcnemar_p"],
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def results_table(paired_comparison: pd.DataFrame, *metrics: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Every metric of every (model, benchmark) as one long table, and the markdown results table.

    The markdown has one row per model and one column per benchmark, each cell ``greedy (maj@k)`` in percent
    for the largest k, then the paired difference of the compared models (percentage points, 95% interval).
    """
    rows = []
    for record in metrics:
        for key, value in record.items():
            if METRIC_NAME.match(key) and value is not None:
                rows.append(
                    {
                        "model": record["model"],
                        "label": record.get("label") or record["model"],
                        "benchmark": record["benchmark"],
                        "metric": key.split("@")[0],
                        "k": int(key.split("@")[1]) if "@" in key else 1,
                        "value": value,
                        "low": record.get(f"{key}_low"),
                        "high": record.get(f"{key}_high"),
                        "n_problems": record.get(f"{key}_n", record.get("n_problems")),
                    }
                )
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table, _markdown(table, paired_comparison)


def _markdown(table: pd.DataFrame, paired_comparison: pd.DataFrame) -> str:
    if table.empty:
        return "No evaluation results.\n"
    benchmarks = list(dict.fromkeys(table["benchmark"]))
    majority = table[table["metric"] == "maj"]
    k = int(majority["k"].max()) if not majority.empty else None
    header = ["model", *benchmarks]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (_, label), rows in table.groupby(["model", "label"], sort=False):
        cells = [label]
        for benchmark in benchmarks:
            cells.append(_cell(rows[rows["benchmark"] == benchmark], k=k))
        lines.append("| " + " | ".join(cells) + " |")
    for metric in ("greedy", f"maj@{k}" if k else None):
        rows = (
            paired_comparison[paired_comparison["metric"] == metric]
            if metric
            else paired_comparison.iloc[0:0]
        )
        if rows.empty:
            continue
        first = rows.iloc[0]
        cells = [f"{first['candidate']} − {first['reference']} ({metric}, paired)"]
        for benchmark in benchmarks:
            row = rows[rows["benchmark"] == benchmark]
            cells.append(_difference_cell(row.iloc[0]) if not row.empty else "–")
        lines.append("| " + " | ".join(cells) + " |")
    legend = [
        "",
        f"Cells: greedy accuracy{f' (maj@{k})' if k else ''} in percent, over n problems per benchmark"
        + (" (maj@k on the sampled run's problems)" if k else "")
        + ". Difference rows: percentage points with the 95% paired-bootstrap interval and McNemar's p.",
    ]
    pooled = paired_comparison[paired_comparison["benchmark"] == ALL_BENCHMARKS]
    for _, row in pooled.iterrows():
        legend.append(
            f"All benchmarks pooled ({row['metric']}, {row['n_problems']} problems): "
            f"{row['candidate']} − {row['reference']} = {_difference_cell(row)}."
        )
    return "\n".join(lines + legend) + "\n"


def _cell(rows: pd.DataFrame, *, k: int | None) -> str:
    greedy = rows[rows["metric"] == "greedy"]
    text = f"{100 * greedy['value'].iloc[0]:.1f}" if not greedy.empty else "–"
    if k is not None:
        majority = rows[(rows["metric"] == "maj") & (rows["k"] == k)]
        text += f" ({100 * majority['value'].iloc[0]:.1f})" if not majority.empty else " (–)"
    n = (
        int(greedy["n_problems"].iloc[0])
        if not greedy.empty and pd.notna(greedy["n_problems"].iloc[0])
        else None
    )
    return text + (f" n={n}" if n is not None else "")


def _difference_cell(row: pd.Series) -> str:
    return (
        f"{100 * row['difference']:+.1f} [{100 * row['difference_low']:+.1f}, {100 * row['difference_high']:+.1f}]"
        f" p={row['mcnemar_p']:.2g}"
    )


def accuracy_chart(metrics_table: pd.DataFrame) -> go.Figure:
    """Greedy accuracy per benchmark, one bar per model, with 95% interval bars."""
    greedy = metrics_table[metrics_table["metric"] == "greedy"]
    figure = go.Figure()
    for label, rows in greedy.groupby("label", sort=False):
        figure.add_bar(
            name=str(label),
            x=rows["benchmark"],
            y=100 * rows["value"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": 100 * (rows["high"] - rows["value"]),
                "arrayminus": 100 * (rows["value"] - rows["low"]),
            },
        )
    figure.update_layout(
        title="Greedy accuracy per benchmark (95% Wilson intervals)",
        yaxis_title="accuracy (%)",
        barmode="group",
    )
    return figure


def majority_chart(metrics_table: pd.DataFrame) -> go.Figure:
    """maj@k as a function of k, one line per (model, benchmark)."""
    majority = metrics_table[metrics_table["metric"] == "maj"].sort_values("k")
    figure = go.Figure()
    for (label, benchmark), rows in majority.groupby(["label", "benchmark"], sort=False):
        figure.add_scatter(
            name=f"{label} {benchmark}", x=rows["k"], y=100 * rows["value"], mode="lines+markers"
        )
    figure.update_layout(title="Majority voting: maj@k by k", xaxis_title="k", yaxis_title="maj@k (%)")
    return figure
