"""Which benchmark splits the recipe trains on and evaluates on: one list that every pipeline shares.

Pipelines may not import each other (import-linter), so the lists live here rather than in the pipeline
that happens to create them first.
"""

from __future__ import annotations

# The training sets of OpenMathInstruct-1: solutions are sampled, graded and filtered for these splits.
TRAINING_SETS: dict[str, str] = {"gsm8k": "train", "math": "train"}

# Every evaluation set that data_preparation produces (test splits); training problems that overlap any
# of them are removed by decontamination.
EVALUATION_SETS: tuple[str, ...] = (
    "gsm8k", "math", "math500", "svamp", "gsm_hard", "asdiv", "algebra222", "mawps", "tabmwp",
)  # fmt: skip
