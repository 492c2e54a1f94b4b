"""Metrics of every evaluated model -> the results table (markdown, CSV), the paired comparison, charts."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_SETS

from .nodes import accuracy_chart, compare_models, majority_chart, results_table

PARAMS = "params:reporting"
METRICS = [
    f"evaluation.{model}.{benchmark}.metrics" for model in EVALUATED_MODELS for benchmark in EVALUATION_SETS
]
PROBLEM_RESULTS = [
    f"evaluation.{model}.{benchmark}.problem_results"
    for model in EVALUATED_MODELS
    for benchmark in EVALUATION_SETS
]


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                compare_models,
                inputs=[PARAMS, *PROBLEM_RESULTS],
                outputs="results.paired_comparison",
                name="compare_models",
            ),
            node(
                results_table,
                inputs=["results.paired_comparison", *METRICS],
                outputs=["results.metrics_table", "results.markdown"],
                name="results_table",
            ),
            node(
                accuracy_chart,
                inputs="results.metrics_table",
                outputs="charts.accuracy",
                name="accuracy_chart",
            ),
            node(
                majority_chart,
                inputs="results.metrics_table",
                outputs="charts.majority_at_k",
                name="majority_chart",
            ),
        ],
        namespace="reporting",
        inputs=set(METRICS) | set(PROBLEM_RESULTS),
        parameters={PARAMS},
    )
