"""Nodes of the generation pipeline: problems -> sampled code-interpreter solutions, in resumable chunks."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from openmath_kedro.code_interpreter import InterpreterSettings, SolutionResult, SolutionTask, solve_with_code
from openmath_kedro.datasets.model_directory import ModelDirectory
from openmath_kedro.engines.base import SamplingParams
from openmath_kedro.params import BenchmarkGeneration, GenerationParams
from openmath_kedro.prompts import PromptTemplate, load_prompt

from .resources import shared_engine, shared_sandbox

logger = logging.getLogger(__name__)

GENERATION_COLUMNS = [
    "problem_id", "sample_index", "seed", "model", "engine", "prompt_name", "prompt_hash", "sampling",
    "generation", "num_code_calls", "code_errors", "finish_reason", "error", "tokens_in", "tokens_out", "seconds",
]  # fmt: skip


@dataclass(frozen=True)
class ChunkPlan:
    """One unit of work and of resume: a few problems, all their samples."""

    chunk_id: str  # "<run key>/<index>-<problem ids hash>": a new key for any change of what is generated
    index: int
    problems: tuple[dict[str, Any], ...]


def plan_chunks(
    problems: pd.DataFrame, *, benchmark: str, settings: GenerationParams, run_key: str
) -> list[ChunkPlan]:
    """Split the selected problems into chunks named by the run key and their problem ids."""
    selection = settings.benchmarks[benchmark]
    rows = problems.to_dict(orient="records")[: selection.max_problems]
    plans = []
    for index, start in enumerate(range(0, len(rows), settings.chunk_size)):
        chunk = tuple(rows[start : start + settings.chunk_size])
        ids_hash = _short_hash([row["id"] for row in chunk])
        plans.append(ChunkPlan(chunk_id=f"{run_key}/{index:05d}-{ids_hash}", index=index, problems=chunk))
    return plans


def run_key(*, settings: GenerationParams, benchmark: str, model: str, prompt: PromptTemplate) -> str:
    """Hash of everything that changes what is generated for a problem (not of which problems)."""
    return _short_hash(
        {
            "model": model,
            "engine": settings.engine,
            "prompt": prompt.content_hash,
            "chat_template": settings.use_chat_template,
            "sampling": settings.sampling.model_dump(),
            "interpreter": settings.interpreter.model_dump(),
            "num_samples": settings.num_samples,
            "seed": settings.seed,
            "chunk_size": settings.chunk_size,
            "benchmark": benchmark,
        }
    )


def generate_solutions(
    problems: pd.DataFrame,
    checkpoint: ModelDirectory,
    completed_chunks: dict[str, Callable[[], pd.DataFrame]],
    params: dict[str, Any],
) -> dict[str, Callable[[], pd.DataFrame]]:
    """The chunks of this shard that are not on disk yet, each computed when the dataset saves it.

    Returning functions lets the chunk dataset persist every chunk as soon as it is generated, so a killed
    run keeps its finished chunks; chunks already on disk are not generated again.
    """
    settings = GenerationParams.model_validate(params)
    benchmark = _benchmark_of(problems)
    context = _GenerationContext.create(settings=settings, benchmark=benchmark, checkpoint=checkpoint)
    plans = plan_chunks(problems, benchmark=benchmark, settings=settings, run_key=context.key)
    mine = [plan for plan in plans if plan.index % settings.num_shards == settings.shard]
    todo = [plan for plan in mine if plan.chunk_id not in completed_chunks]
    logger.info(
        "%s: %d problems in %d chunks, %d for shard %d/%d, %d already done, %d to generate (run key %s)",
        benchmark,
        sum(len(p.problems) for p in plans),
        len(plans),
        len(mine),
        settings.shard,
        settings.num_shards,
        len(mine) - len(todo),
        len(todo),
        context.key,
    )
    progress = _Progress(total=sum(len(p.problems) for p in todo) * settings.num_samples, benchmark=benchmark)
    return {
        plan.chunk_id: _chunk_job(plan, context=context, progress=progress, last=plan is todo[-1])
        for plan in todo
    }


def merge_generations(
    chunks: dict[str, Callable[[], pd.DataFrame]],
    problems: pd.DataFrame,
    checkpoint: ModelDirectory,
    params: dict[str, Any],
) -> pd.DataFrame:
    """All chunks of the current run key in one table; an error lists the chunks still missing (other shards)."""
    settings = GenerationParams.model_validate(params)
    benchmark = _benchmark_of(problems)
    context = _GenerationContext.create(settings=settings, benchmark=benchmark, checkpoint=checkpoint)
    plans = plan_chunks(problems, benchmark=benchmark, settings=settings, run_key=context.key)
    missing = [plan for plan in plans if plan.chunk_id not in chunks]
    if missing:
        raise ValueError(
            f"generation.{benchmark}: {len(missing)} of {len(plans)} chunks are not generated yet (chunk indices "
            f"{[plan.index for plan in missing][:20]}; with num_shards N, chunk i belongs to shard i % N). "
            "Run the missing shards' generate node, then merge again."
        )
    tables = [chunks[plan.chunk_id]() for plan in plans]
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=GENERATION_COLUMNS)
    _log_summary(merged, benchmark=benchmark)
    return merged[GENERATION_COLUMNS]


def _benchmark_of(problems: pd.DataFrame) -> str:
    names = problems["benchmark"].unique().tolist() if "benchmark" in problems else []
    if len(names) != 1:
        raise ValueError(f"expected the problems of one benchmark, got {names or 'an empty table'}")
    return str(names[0])


@dataclass(frozen=True)
class _GenerationContext:
    settings: GenerationParams
    selection: BenchmarkGeneration
    benchmark: str
    checkpoint: ModelDirectory
    prompt: PromptTemplate
    model: str
    key: str

    @classmethod
    def create(
        cls, *, settings: GenerationParams, benchmark: str, checkpoint: ModelDirectory
    ) -> _GenerationContext:
        if benchmark not in settings.benchmarks:
            raise ValueError(f"generation.benchmarks has no entry for {benchmark}")
        selection = settings.benchmarks[benchmark]
        prompt = load_prompt(selection.prompt, examples=selection.examples)
        model = str(settings.engine.get("model") or checkpoint.path)
        key = run_key(settings=settings, benchmark=benchmark, model=model, prompt=prompt)
        return cls(settings, selection, benchmark, checkpoint, prompt, model, key)

    @functools.cached_property
    def _chat_template(self) -> Callable[[list[dict[str, str]]], str] | None:
        if not self.settings.use_chat_template:
            return None
        tokenizer = self.checkpoint.load_tokenizer()
        return lambda messages: tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def render(self, problem: str) -> str:
        return self.prompt.render(problem=problem, chat_template=self._chat_template)

    def engine_settings(self) -> dict[str, Any]:
        settings = dict(self.settings.engine)
        if settings["kind"] == "vllm":
            settings.setdefault("model", str(self.checkpoint.path))
        return settings


def _chunk_job(
    plan: ChunkPlan, *, context: _GenerationContext, progress: _Progress, last: bool
) -> Callable[[], pd.DataFrame]:
    def generate_chunk() -> pd.DataFrame:
        settings = context.settings
        interpreter = InterpreterSettings(**settings.interpreter.model_dump())
        tasks, rows = [], {}
        for problem in plan.problems:
            prompt = context.render(problem["problem"])
            for sample_index in range(settings.num_samples):
                seed = _sample_seed(settings.seed, problem["id"], sample_index)
                sampling = SamplingParams(
                    temperature=settings.sampling.temperature,
                    top_p=settings.sampling.top_p,
                    max_tokens=settings.sampling.max_tokens,
                    stop=tuple(settings.sampling.stop),
                    seed=seed,
                )
                key = f"{problem['id']}#{sample_index}"
                tasks.append(SolutionTask(key=key, prompt=prompt, sampling=sampling))
                rows[key] = {
                    "problem_id": problem["id"],
                    "sample_index": sample_index,
                    "seed": seed,
                    "model": context.model,
                    "engine": settings.engine["kind"],
                    "prompt_name": context.prompt.name,
                    "prompt_hash": context.prompt.content_hash,
                    "sampling": settings.sampling.model_dump(),
                }
        results = solve_with_code(
            tasks,
            engine=shared_engine(context.engine_settings()),
            runner=shared_sandbox(
                timeout_s=interpreter.code_timeout_s, max_output_chars=interpreter.max_output_chars
            ),
            settings=interpreter,
            on_finished=lambda task, result: progress.update(result),
        )
        if last:
            progress.close()
        records = [rows[task.key] | asdict(results[task.key]) for task in tasks]
        return pd.DataFrame.from_records(records, columns=GENERATION_COLUMNS)

    return generate_chunk


class _Progress:
    """One bar per benchmark over all its samples: problems done, samples/s and tokens/s."""

    def __init__(self, *, total: int, benchmark: str) -> None:
        self._total, self._benchmark = total, benchmark
        self._bar: tqdm | None = None
        self._tokens = 0
        self._started = 0.0

    def update(self, result: SolutionResult) -> None:
        if self._bar is None:
            self._started = time.monotonic()
            self._bar = tqdm(
                total=self._total, desc=f"generation {self._benchmark}", unit="sample", mininterval=2
            )
        self._tokens += result.tokens_out
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._bar.update(1)
        self._bar.set_postfix(tokens_per_s=f"{self._tokens / elapsed:.0f}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _log_summary(generations: pd.DataFrame, *, benchmark: str) -> None:
    if generations.empty:
        logger.warning("generation.%s: no samples", benchmark)
        return
    logger.info(
        "generation.%s: %d samples of %d problems, %d tokens generated, %d code calls (%d errors), "
        "finish reasons %s, %.0f sample-seconds",
        benchmark,
        len(generations),
        generations["problem_id"].nunique(),
        int(generations["tokens_out"].sum()),
        int(generations["num_code_calls"].sum()),
        int(generations["code_errors"].sum()),
        generations["finish_reason"].value_counts().to_dict(),
        float(generations["seconds"].sum()),
    )


def _sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
