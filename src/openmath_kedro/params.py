"""Pydantic models of every parameters block, one per pipeline (validated when a run starts).

Each top-level key of the parameters belongs to exactly one pipeline; an unknown key or field is an
error, so a typo in ``parameters_*.yml`` or ``--params`` fails before any work is done.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from openmath_kedro.answers import conventions_for
from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_SETS, TRAINING_SETS
from openmath_kedro.engines.settings import EngineSettingsError, resolve_engine
from openmath_kedro.prompts import MATH_SUBJECT_SETS, PromptError, load_prompt

BY_SUBJECT = "by_subject"  # generation examples: each MATH problem's subject set (code_solutions.nodes)


class ParameterProblems(ValueError):
    """Problems found by a validator, each at its own location (relative to where the validator reports)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{location}: {message}" for location, message in problems))


def _check_names(given: Any, known: Any, *, what: str) -> list[tuple[str, str]]:
    """One problem per unknown name, naming the known ones (the style of ``EvaluationParams``)."""
    return [
        (str(name), f"unknown benchmark {name!r}; the {what} are {sorted(known)}")
        for name in given
        if name not in known
    ]


def _prompt_problems(location: str, prompt: str, examples: str | None) -> list[tuple[str, str]]:
    """A problem if the template or its example set does not load (by_subject: every MATH subject set)."""
    example_sets = sorted(set(MATH_SUBJECT_SETS.values())) if examples == BY_SUBJECT else [examples]
    for example_set in example_sets:
        try:
            load_prompt(prompt, examples=example_set)
        except PromptError as error:
            return [(location, str(error))]
    return []


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataPreparationParams(_Strict):
    """``data_preparation``: how raw files become normalized problem tables."""

    expected_counts: dict[str, dict[str, int]] = Field(
        description="benchmark -> split -> number of problems; a different count is an error"
    )
    allow_count_mismatch: bool = Field(
        default=False, description="accept tables whose size differs from expected_counts (warns)"
    )


class ModelSetupParams(_Strict):
    """``model_setup``: how model references become HF checkpoint directories."""

    dtype: Literal["bfloat16", "float16", "float32"] = Field(
        default="bfloat16", description="dtype of the saved weights (the embedded GGUF is dequantized to it)"
    )


class SamplingSettings(_Strict):
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=512, ge=1, description="tokens per engine call (one code round)")
    stop: list[str] = Field(default_factory=list)


class InterpreterParams(_Strict):
    max_code_rounds: int = Field(default=3, ge=0)
    max_generated_tokens: int = Field(default=1024, ge=1, description="over all rounds of one solution")
    error_policy: Literal["stop", "continue"] = "stop"
    code_timeout_s: float = Field(default=10.0, gt=0)
    max_output_chars: int = Field(default=1000, ge=0)


class BenchmarkGeneration(_Strict):
    prompt: str = Field(description="template name in openmath_kedro/prompts/templates")
    examples: str | None = Field(
        default=None,
        description="few-shot example set (None: the template's default; by_subject: the MATH set of each "
        "problem's metadata.subject)",
    )
    solution_prefix: str = Field(
        default="",
        description="text every solution starts with, e.g. '<llm-code>\\n' to make the model use code",
    )
    max_problems: int | None = Field(
        default=None, ge=0, description="the first N problems only (None: all; 0: none, a disabled run)"
    )
    num_samples: int | None = Field(
        default=None,
        ge=1,
        description="solutions per problem of this benchmark (None: the block's num_samples)",
    )


class MaskingParams(_Strict):
    """How reference solutions are masked for prompts that show one (``masked_solution`` field)."""

    prompt: str = "mask_solution"
    examples: str | None = None
    max_tokens: int = Field(default=512, ge=1)


class GenerationParams(_Strict):
    """``generation``: which engine samples how many solutions per problem, with which prompt."""

    engine: dict[str, Any] = Field(
        description="kind (vllm | openai) and each kind's settings under engine.<kind>; once validated, the "
        "selected kind and its settings only (engines/settings.py)"
    )
    num_samples: int = Field(ge=1, description="solutions per problem")
    seed: int = 0
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    use_chat_template: bool = Field(default=True, description="wrap prompts in the model's chat template")
    interpreter: InterpreterParams = Field(default_factory=InterpreterParams)
    chunk_size: int = Field(default=8, ge=1, description="problems per persisted chunk (the unit of resume)")
    batch_size: int = Field(
        default=64,
        ge=1,
        description="samples generated together (whole chunks, at least one) per engine batch",
    )
    max_engine_error_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="share of the samples a run generates that the engine may fail (server down or overloaded "
        "past its retries, request aborted) before the run fails; failed samples are generated again by the "
        "next run either way",
    )
    masking: MaskingParams = Field(default_factory=MaskingParams)
    shard: int = Field(default=0, ge=0)
    num_shards: int = Field(default=1, ge=1)
    benchmarks: dict[str, BenchmarkGeneration]
    runs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="named generation runs pooled into one table (none: one run of these settings, named "
        "'default'); each entry overrides these settings key by key (e.g. benchmarks.math.prompt, "
        "benchmarks.math.num_samples, sampling.temperature); an engine entry replaces the engine whole",
    )

    def samples_for(self, benchmark: str) -> int:
        """Solutions per problem of ``benchmark`` in this run."""
        return self.benchmarks[benchmark].num_samples or self.num_samples

    def expand_runs(self) -> dict[str, GenerationParams]:
        """Every run's own settings (without runs): ``{"default": self}`` when no runs are named."""
        if not self.runs:
            return {DEFAULT_RUN: self}
        return {name: self._run_settings(name) for name in self.runs}

    def _run_settings(self, name: str) -> GenerationParams:
        overrides = self.runs[name]
        base = self.model_dump(exclude={"runs"})
        if "engine" in overrides:
            base.pop("engine")  # replaced whole: the other kind's settings must not leak in
        return type(self).model_validate(_merge_keys(base, overrides))

    @field_validator("runs")
    @classmethod
    def _check_run_entries(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        problems = []
        for name, overrides in value.items():
            if not re.fullmatch(r"[a-z0-9_]+", name):
                problems.append((name, "a run name is lowercase letters, digits and _"))
            if not isinstance(overrides, dict):
                problems.append((name, "expected a mapping of settings to override"))
            elif shared := sorted(set(overrides) & SHARED_BY_RUNS):
                problems.append((name, f"{shared} are shared by every run; set them once for the block"))
        if problems:
            raise ParameterProblems(problems)
        return value

    @model_validator(mode="after")
    def _check_runs(self) -> GenerationParams:
        problems = []
        for name in self.runs:
            try:
                self._run_settings(name)
            except ValidationError as error:
                problems += [
                    (
                        ".".join(["runs", name, *map(str, item["loc"])]),
                        item["msg"].removeprefix("Value error, "),
                    )
                    for item in error.errors()
                ]
        if problems:
            raise ParameterProblems(problems)
        return self

    @field_validator("engine", mode="before")
    @classmethod
    def _resolve_engine(cls, value: Any) -> dict[str, Any]:
        """The selected kind's settings, typed and checked (the resolved form validates to itself)."""
        try:
            return resolve_engine(("engine", value))
        except EngineSettingsError as error:
            # locations relative to this field; the messages still name engine.<kind>.<key>
            raise ParameterProblems(
                [
                    (location.removeprefix("engine").lstrip("."), message)
                    for location, message in error.problems
                ]
            ) from error

    @model_validator(mode="after")
    def _check_shard(self) -> GenerationParams:
        if self.shard >= self.num_shards:
            raise ValueError(f"shard {self.shard} is not below num_shards {self.num_shards}")
        return self


DEFAULT_RUN = "default"
# How work is split and checked, and the masked reference solutions (one table per benchmark): the same for
# every run of a block.
SHARED_BY_RUNS = frozenset(
    {"runs", "shard", "num_shards", "batch_size", "chunk_size", "max_engine_error_share", "masking"}
)


def _merge_keys(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied key by key (nested mappings merge, anything else replaces)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_keys(merged[key], value)
        else:
            merged[key] = value
    return merged


class GenerationPipelineParams(GenerationParams):
    """``params:generation`` as the generation pipeline reads it: one entry per training set, prompts that load.

    ``GenerationParams`` alone is also the generation-shaped block evaluation builds for its own benchmarks.
    """

    @field_validator("benchmarks")
    @classmethod
    def _check_benchmarks(cls, value: dict[str, BenchmarkGeneration]) -> dict[str, BenchmarkGeneration]:
        problems = _check_names(value, TRAINING_SETS, what="training sets")
        if missing := sorted(set(TRAINING_SETS) - set(value)):
            problems.append(("", f"no entry for {missing} (every one of {sorted(TRAINING_SETS)} needs one)"))
        for name, selection in value.items():
            problems += _prompt_problems(f"{name}.prompt", selection.prompt, selection.examples)
        if problems:
            raise ParameterProblems(problems)
        return value

    @field_validator("masking")
    @classmethod
    def _check_masking_prompt(cls, value: MaskingParams) -> MaskingParams:
        if problems := _prompt_problems("prompt", value.prompt, value.examples):
            raise ParameterProblems(problems)
        return value


class GradingParams(_Strict):
    """``grading``: answer conventions per benchmark, on top of the defaults in ``answers``."""

    conventions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="benchmark -> AnswerConventions fields to override"
    )

    @field_validator("conventions")
    @classmethod
    def _check_conventions(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        problems = _check_names(value, TRAINING_SETS, what="training sets")
        for name, overrides in value.items():
            try:
                conventions_for(name, overrides)
            except (TypeError, ValueError) as error:
                problems.append((name, str(error)))
        if problems:
            raise ParameterProblems(problems)
        return value


PARAMETER_MODELS: dict[str, type[_Strict]] = {
    "data_preparation": DataPreparationParams,
    "model_setup": ModelSetupParams,
    "generation": GenerationPipelineParams,
    "grading": GradingParams,
}


class ParameterError(ValueError):
    """The parameters do not match their pipeline's model."""


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every top-level parameters block; raise one error that lists every problem.

    A block is a mapping (the configuration) or a model Kedro already built from a node's type hint
    (``context.params``), which may be a less strict one (``GenerationParams``): its dump validates again.
    """
    problems = []
    validated: dict[str, BaseModel] = {}
    for key, value in params.items():
        model = PARAMETER_MODELS.get(key)
        if isinstance(value, BaseModel) and model is not None and not isinstance(value, model):
            value = value.model_dump(mode="json")
        if model is None:
            problems.append(
                f"'{key}': unknown top-level parameter (each block belongs to a pipeline: "
                f"{', '.join(sorted(PARAMETER_MODELS))})"
            )
            continue
        try:
            validated[key] = model.model_validate(value)
        except ValidationError as error:
            problems += _describe(key, error)
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems))
    return validated


def _describe(key: str, error: ValidationError) -> list[str]:
    """One line per problem: ``'generation.engine.vllm.dtype': message`` (no "Value error, " prefix)."""
    lines = []
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        if item["type"] == "value_error" and isinstance(cause, Exception):
            located = getattr(cause, "problems", None) or [("", str(cause))]
        else:
            located = [("", item["msg"])]
        for where, message in located:
            location = ".".join(part for part in (key, *map(str, item["loc"]), where) if part)
            lines.append(f"'{location}': {message}")
    return lines


# ``filtering`` lives in one self-contained block (appended, so edits elsewhere in this file stay independent).
class SolutionFilters(_Strict):
    """The per-solution rules of OpenMathInstruct-1; each one can be switched off."""

    correct_only: bool = Field(default=True, description="drop solutions whose answer is not correct")
    single_boxed_answer: bool = Field(default=True, description="drop solutions with no \\boxed{} or several")
    trim_after_answer: bool = Field(
        default=True, description="cut the text after the line of the last \\boxed{}"
    )
    well_formed_code: bool = Field(default=True, description="drop solutions with broken code/output tags")
    drop_code_errors: bool = Field(default=True, description="drop solutions in which a code block failed")
    min_chars: int | None = Field(default=None, ge=0, description="shortest solution kept (None: no limit)")
    max_chars: int | None = Field(default=None, ge=1, description="longest solution kept (None: no limit)")
    exact_duplicates: bool = Field(default=True, description="keep one of identical solutions per problem")
    near_duplicates: bool = Field(
        default=True, description="keep one of solutions equal up to spaces, tabs, newlines and $"
    )


class Decontamination(_Strict):
    enabled: bool = True
    ngram_size: int = Field(default=10, ge=1, description="words per n-gram")
    threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="shared n-grams / n-grams of the shorter problem that flags overlap",
    )


class Selection(_Strict):
    code_preference: Literal["all", "any_code", "majority_code"] = Field(
        default="any_code", description="which solutions of a problem to keep by whether they use code"
    )
    downsampling: Literal["fair", "naive"] = Field(
        default="fair", description="fair: round-robin over problems; naive: uniform over solutions"
    )
    target_size: dict[str, int | None] = Field(
        default_factory=dict, description="benchmark -> solutions to keep (absent or None: all)"
    )
    seed: int = 0

    @field_validator("target_size")
    @classmethod
    def _check_target_names(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        if problems := _check_names(value, TRAINING_SETS, what="training sets"):
            raise ParameterProblems(problems)
        return value


class FilteringParams(_Strict):
    """``filtering``: graded generations -> SFT set (rules, decontamination, selection, prompt)."""

    filters: SolutionFilters = Field(default_factory=SolutionFilters)
    decontamination: Decontamination = Field(default_factory=Decontamination)
    selection: Selection = Field(default_factory=Selection)
    prompt: str = Field(
        default="zero_shot", description="template of the SFT prompts (the student's eval prompt)"
    )
    allow_empty_result: bool = Field(
        default=False, description="an empty SFT set is an error showing the funnel unless this is true"
    )

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if problems := _prompt_problems("", value, None):
            raise ParameterProblems(problems)
        return value

    @model_validator(mode="after")
    def _check_length_limits(self) -> FilteringParams:
        low, high = self.filters.min_chars, self.filters.max_chars
        if low is not None and high is not None and low > high:
            raise ValueError(f"filters.min_chars {low} is above filters.max_chars {high}")
        for benchmark, size in self.selection.target_size.items():
            if size is not None and size < 1:
                raise ValueError(f"selection.target_size.{benchmark} must be at least 1 (or null: keep all)")
        return self


PARAMETER_MODELS["filtering"] = FilteringParams


# ``finetuning``: appended like ``filtering``, one self-contained block.
class LoraSettings(_Strict):
    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="module names of the student to adapt (each must exist in it)",
    )


class FinetuningParams(_Strict):
    """``finetuning``: TRL SFT of the student on the SFT set, checkpoints and their average."""

    method: Literal["full", "lora"] = "full"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    max_length: int = Field(default=1024, ge=16, description="tokens per sequence (prompt + completion)")
    packing: bool = Field(default=False, description="pack several examples into each max_length sequence")
    per_device_batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=2e-5, gt=0)
    lr_scheduler: Literal["constant", "cosine", "linear"] = "cosine"
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    num_epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="stop after this many steps (None: epochs)")
    checkpoints_per_epoch: int = Field(default=2, ge=1, description="saved evenly over each epoch")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto", description="auto: bf16 on GPUs that have it, fp32 elsewhere (CPU bf16 is slow)"
    )
    gradient_checkpointing: bool = False
    seed: int = 0
    logging_steps: int = Field(default=1, ge=1)
    average_last: int | None = Field(
        default=None, ge=1, description="average the last N checkpoints (None: every saved checkpoint)"
    )


PARAMETER_MODELS["finetuning"] = FinetuningParams


# ``evaluation`` and ``reporting``: appended like ``filtering``, self-contained blocks.
class EvaluatedModel(_Strict):
    """One slot of ``EVALUATED_MODELS``: how that model is prompted and served."""

    label: str | None = Field(default=None, description="row name in the results table (None: the slot name)")
    prompt: str = Field(
        description="template: code_fewshot for base models, zero_shot (the SFT prompt) after SFT"
    )
    use_chat_template: bool = True
    solution_prefix: str = ""
    path: str | None = Field(
        default=None,
        description="a local HF checkpoint directory to evaluate instead of the slot's catalog one",
    )
    engine: dict[str, Any] = Field(
        default_factory=dict,
        description="over evaluation.engine for this model (same shape: kind, vllm: ..., openai: ...); "
        "kind: openai with openai: {base_urls, model} evaluates an OpenAI-compatible endpoint",
    )


class EvaluationRun(_Strict):
    enabled: bool = True
    num_samples: int = Field(ge=1, description="solutions per problem")
    sampling: SamplingSettings
    max_problems: int | None = Field(
        default=None,
        ge=1,
        description="at most this many problems per benchmark in this run (None: the benchmark's)",
    )


class EvaluationBenchmark(_Strict):
    max_problems: int | None = Field(
        default=None, ge=0, description="the first N test problems (None: all; 0: none, the benchmark is off)"
    )
    examples: str | None = Field(
        default=None, description="few-shot set for prompts that show examples (gsm8k, math_general, ...)"
    )
    conventions: dict[str, Any] = Field(
        default_factory=dict, description="AnswerConventions fields on top of the benchmark's preset"
    )


class EvaluationRuns(_Strict):
    greedy: EvaluationRun
    sampled: EvaluationRun


class EvaluationParams(_Strict):
    """``evaluation``: every model of ``EVALUATED_MODELS`` on every benchmark, greedy and sampled."""

    engine: dict[str, Any] = Field(
        description="kind (vllm | openai) and each kind's settings under engine.<kind>; a model's own engine "
        "goes over it (engine_for)"
    )
    seed: int = 0
    interpreter: InterpreterParams = Field(
        default_factory=lambda: InterpreterParams(max_code_rounds=6, error_policy="continue")
    )
    chunk_size: int = Field(default=8, ge=1)
    batch_size: int = Field(default=64, ge=1)
    shard: int = Field(default=0, ge=0)
    num_shards: int = Field(default=1, ge=1)
    max_engine_error_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="as generation.max_engine_error_share, for each evaluation run",
    )
    majority_ks: list[int] = Field(
        default_factory=lambda: [1, 4],
        description="k of maj@k and pass@k (each at most runs.sampled.num_samples)",
    )
    models: dict[str, EvaluatedModel]
    runs: EvaluationRuns
    benchmarks: dict[str, EvaluationBenchmark]

    @model_validator(mode="after")
    def _check_names(self) -> EvaluationParams:
        for kind, given, known in (
            ("models", self.models, EVALUATED_MODELS),
            ("benchmarks", self.benchmarks, EVALUATION_SETS),
        ):
            if unknown := sorted(set(given) - set(known)):
                raise ValueError(f"{kind}: unknown {unknown}; the evaluated {kind} are {sorted(known)}")
            if missing := sorted(set(known) - set(given)):
                raise ValueError(f"{kind}: no entry for {missing} (every one of {sorted(known)} needs one)")
        engine_problems: list[tuple[str, str]] = []
        for name in self.models:  # every model's engine, resolved and typed, before any work
            try:
                self.engine_for(name)
            except EngineSettingsError as error:
                engine_problems += [item for item in error.problems if item not in engine_problems]
        if engine_problems:
            raise ParameterProblems(engine_problems)
        if self.shard >= self.num_shards:
            raise ValueError(f"shard {self.shard} is not below num_shards {self.num_shards}")
        if self.runs.sampled.enabled and (
            too_big := [k for k in self.majority_ks if k > self.runs.sampled.num_samples]
        ):
            raise ValueError(
                f"majority_ks {too_big} exceed runs.sampled.num_samples={self.runs.sampled.num_samples}"
            )
        if any(k < 1 for k in self.majority_ks):
            raise ValueError("majority_ks must be at least 1")
        # prompts and answer conventions are checked here, before any work, not when their node runs
        for name, model in self.models.items():
            try:
                load_prompt(model.prompt)
            except PromptError as error:
                raise ValueError(f"models.{name}.prompt: {error}") from error
        for name, benchmark in self.benchmarks.items():
            try:
                conventions_for(name, benchmark.conventions)
            except (TypeError, ValueError) as error:
                raise ValueError(f"benchmarks.{name}.conventions: {error}") from error
        return self

    def engine_for(self, model: str) -> dict[str, Any]:
        """The resolved engine settings of one model: its own ``engine`` over ``evaluation.engine``.

        Per-kind blocks merge key by key; the kind is the model's if it names one. A model's resolved-form
        override (``{kind: openai, base_urls: ..., model: ...}``) replaces the settings of another kind.
        """
        return resolve_engine(("engine", self.engine), (f"models.{model}.engine", self.models[model].engine))


class ReportingParams(_Strict):
    """``reporting``: which evaluated models the results table compares."""

    compare: list[str] = Field(
        default_factory=lambda: ["base", "finetuned"],
        description="[reference, candidate]: the paired difference candidate - reference on the same problems",
    )
    bootstrap_samples: int = Field(default=10_000, ge=100)
    seed: int = 0

    @model_validator(mode="after")
    def _check_compare(self) -> ReportingParams:
        if len(self.compare) != 2 or set(self.compare) - set(EVALUATED_MODELS):
            raise ValueError(
                f"compare must name two of the evaluated models {sorted(EVALUATED_MODELS)}, got {self.compare}"
            )
        return self


PARAMETER_MODELS["evaluation"] = EvaluationParams
PARAMETER_MODELS["reporting"] = ReportingParams
