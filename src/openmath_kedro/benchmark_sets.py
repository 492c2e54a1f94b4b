"""Which benchmark splits the recipe trains on and evaluates on, and which models it evaluates: one list each.

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

# The models that evaluation namespaces are built for (evaluation.<model>.<benchmark>), with the catalog
# checkpoint each one reads. Kedro builds pipelines before it reads parameters, so the names are fixed here
# and parameters_evaluation.yml must configure each of them (prompt, engine; a `path` or an OpenAI-compatible
# `engine` puts another model in a slot). Evaluating a third model is one more line here plus its entry there.
EVALUATED_MODELS: dict[str, str] = {
    "base": "model_setup.student.checkpoint",
    "finetuned": "finetuning.student.averaged_checkpoint",
}

# Evaluation runs of every model and benchmark: one greedy solution per problem, and k sampled ones for
# majority@k and pass@k.
EVALUATION_RUNS: tuple[str, ...] = ("greedy", "sampled")
