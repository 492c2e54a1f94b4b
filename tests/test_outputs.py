"""What `make run` prints after the run: the filtering funnel of each training set."""

from __future__ import annotations

import polars as pl

from openmath_kedro.runs.outputs import describe_funnel


def test_the_funnel_line_follows_the_enabled_steps_of_each_training_set():
    funnel = pl.DataFrame(
        {
            "benchmark": ["math", "gsm8k", "gsm8k", "gsm8k", "math"],
            "position": [0, 0, 1, 2, 1],
            "step": ["graded", "graded", "correct_answer", "downsampling", "correct_answer"],
            "enabled": [True, True, True, False, True],
            "rows": [10, 32, 8, 8, 0],
            "problems": [4, 8, 5, 5, 0],
            "removed": [0, 0, 24, 0, 10],
        }
    )
    assert describe_funnel(funnel) == [
        "  gsm8k: 32 solutions of 8 problems generated and graded; 8 kept, covering 5 problems "
        "(graded 32 -> correct_answer 8)",
        "  math: 10 solutions of 4 problems generated and graded; 0 kept, covering 0 problems "
        "(graded 10 -> correct_answer 0)",
    ]
