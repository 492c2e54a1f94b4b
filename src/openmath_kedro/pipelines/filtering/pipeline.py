"""Graded generations -> SFT set: rules, decontamination, selection and audit, per training set."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from openmath_kedro.benchmark_sets import EVALUATION_SETS, TRAINING_SETS

from .nodes import (
    build_sft_set,
    collect_evaluation_problems,
    combine_coverage,
    combine_funnels,
    filter_solutions,
    find_contaminated_problems,
    select_solutions,
    summarize_benchmark,
)

PARAMS = "params:filtering"


def create_pipeline(**kwargs) -> Pipeline:
    evaluation = pipeline(
        [
            node(
                collect_evaluation_problems,
                [f"{benchmark}_test_problems" for benchmark in EVALUATION_SETS],
                "problems",
                name="collect",
            )
        ],
        namespace="filtering.evaluation",
        inputs={f"{b}_test_problems": f"data_preparation.{b}.test_problems" for b in EVALUATION_SETS},
    )
    per_benchmark = [
        pipeline(
            [
                node(
                    find_contaminated_problems,
                    ["problems", "evaluation_problems", PARAMS],
                    "contaminated_problems",
                    name="decontaminate",
                ),
                node(
                    filter_solutions,
                    ["graded_generations", "problems", "contaminated_problems", PARAMS],
                    ["filtered_solutions", "removed_by_filters"],
                    name="filter",
                ),
                node(
                    select_solutions,
                    ["filtered_solutions", "removed_by_filters", "problems", PARAMS],
                    ["selected_solutions", "removed_solutions"],
                    name="select",
                ),
                node(
                    summarize_benchmark,
                    ["problems", "selected_solutions", "removed_solutions", PARAMS],
                    ["funnel", "coverage"],
                    name="summarize",
                ),
            ],
            namespace=f"filtering.{benchmark}",
            inputs={
                "graded_generations": f"grading.{benchmark}.graded_generations",
                "problems": f"data_preparation.{benchmark}.{split}_problems",
                "evaluation_problems": "filtering.evaluation.problems",
            },
            parameters={PARAMS},
        )
        for benchmark, split in TRAINING_SETS.items()
    ]
    audit = pipeline(
        [
            node(
                combine_funnels,
                [f"{benchmark}_funnel" for benchmark in TRAINING_SETS],
                ["funnel", "funnel_chart"],
                name="combine_funnels",
            ),
            node(
                combine_coverage,
                [f"{benchmark}_coverage" for benchmark in TRAINING_SETS],
                "coverage",
                name="combine_coverage",
            ),
        ],
        namespace="filtering.audit",
        inputs={
            **{f"{b}_funnel": f"filtering.{b}.funnel" for b in TRAINING_SETS},
            **{f"{b}_coverage": f"filtering.{b}.coverage" for b in TRAINING_SETS},
        },
    )
    sft = pipeline(
        [
            node(
                build_sft_set,
                [PARAMS, *(f"{benchmark}_solutions" for benchmark in TRAINING_SETS)],
                "training_examples",
                name="build",
            )
        ],
        namespace="filtering.sft",
        # not the combined funnel (reporting layer): reporting -> model_output would make kedro-viz's layers cyclic
        inputs={f"{b}_solutions": f"filtering.{b}.selected_solutions" for b in TRAINING_SETS},
        parameters={PARAMS},
    )
    return evaluation + sum(per_benchmark, Pipeline([])) + audit + sft
