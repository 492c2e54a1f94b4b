"""Raw benchmark files -> normalized problem tables, one namespace per benchmark."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, node, pipeline

from .nodes import (
    MATH_SUBJECTS,
    prepare_algebra222,
    prepare_asdiv,
    prepare_gsm8k,
    prepare_gsm_hard,
    prepare_math,
    prepare_math500,
    prepare_mawps,
    prepare_svamp,
    prepare_tabmwp,
)

PARAMS = "params:data_preparation"


def _benchmark(benchmark: str, nodes: list[Node]) -> Pipeline:
    return pipeline(nodes, namespace=f"data_preparation.{benchmark}", parameters={PARAMS})


def create_pipeline(**kwargs) -> Pipeline:
    test_only = {
        "math500": prepare_math500,
        "svamp": prepare_svamp,
        "gsm_hard": prepare_gsm_hard,
        "algebra222": prepare_algebra222,
        "mawps": prepare_mawps,
        "tabmwp": prepare_tabmwp,
    }
    return pipeline(
        [
            _benchmark(
                "gsm8k",
                [
                    node(
                        prepare_gsm8k,
                        ["raw_train", "raw_test", PARAMS],
                        ["train_problems", "test_problems"],
                        name="prepare",
                    )
                ],
            ),
            _benchmark(
                "math",
                [
                    node(
                        prepare_math,
                        [PARAMS, "raw_test", *(f"raw_train_{subject}" for subject in MATH_SUBJECTS)],
                        ["train_problems", "test_problems"],
                        name="prepare",
                    )
                ],
            ),
            _benchmark(
                "asdiv", [node(prepare_asdiv, ["raw_corpus", PARAMS], "test_problems", name="prepare")]
            ),
            *(
                _benchmark(name, [node(function, ["raw_test", PARAMS], "test_problems", name="prepare")])
                for name, function in test_only.items()
            ),
        ]
    )
