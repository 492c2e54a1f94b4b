"""Nodes of the code_solutions modular pipeline: problems -> code-interpreter solutions, in resumable chunks.

``settings`` is a generation-shaped block (``GenerationParams``): ``params:generation`` for the generation
pipeline, one block per model, benchmark and run for evaluation. The benchmark is the one of the problems.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from openmath_kedro.code_interpreter import (
    ENGINE_ERROR,
    InterpreterSettings,
    SolutionResult,
    SolutionTask,
    solve_with_code,
)
from openmath_kedro.datasets.generation_chunks import SavedChunk
from openmath_kedro.datasets.model_directory import ModelDirectory
from openmath_kedro.engines.base import EngineError, GenerationRequest, SamplingParams
from openmath_kedro.params import DEFAULT_RUN, BenchmarkGeneration, GenerationParams
from openmath_kedro.prompts import (
    MATH_SUBJECT_SETS,
    PromptTemplate,
    load_prompt,
    mask_numbers_heuristically,
    masked_solution_leaks_answer,
)
from openmath_kedro.prompts.masking import MASKING_SCHEME
from openmath_kedro.runs.keys import settings_hash
from openmath_kedro.runs.resources import shared_engine, shared_sandbox

logger = logging.getLogger(__name__)

BY_SUBJECT = "by_subject"
MASKED_COLUMNS = ["problem_id", "masked_solution", "masked_by", "model_output_leaked"]
GENERATION_COLUMNS = [  # one chunk's rows
    "problem_id", "sample_index", "seed", "model", "engine", "prompt_name", "prompt_hash", "sampling",
    "generation", "num_code_calls", "code_errors", "finish_reason", "error", "tokens_in", "tokens_out", "seconds",
]  # fmt: skip
MERGED_COLUMNS = [*GENERATION_COLUMNS, "generation_run", "run_sample_index"]  # pooled over the runs


@dataclass(frozen=True)
class ChunkPlan:
    """One unit of work and of resume: a few problems, a range of their samples."""

    chunk_id: (
        str  # "<run key>/<index>-<problems hash>/<first sample>-<end>": a new id for any change of content
    )
    index: int
    problems: tuple[dict[str, Any], ...]
    samples: range

    @property
    def size(self) -> int:
        return len(self.problems) * len(self.samples)


def plan_chunks(
    problems: pd.DataFrame,
    *,
    benchmark: str,
    settings: GenerationParams,
    run_key: str,
    saved: Iterable[str] = (),
) -> list[ChunkPlan]:
    """The chunks that hold samples ``0 .. num_samples - 1`` of every selected problem.

    Problems are split into chunks of ``chunk_size``; each problem chunk's samples are covered by the saved
    sample ranges (``saved``: chunk ids on disk) from sample 0 on, and the rest by one new chunk. Samples are
    seeded by (seed, problem, index) alone, so raising ``num_samples`` adds a chunk of the new samples to those
    already generated instead of starting over, and lowering it reuses a prefix.
    """
    selection = settings.benchmarks[benchmark]
    rows = problems.to_dict(orient="records")[: selection.max_problems]
    ranges = _saved_sample_ranges(saved, run_key=run_key)
    plans = []
    for index, start in enumerate(range(0, len(rows), settings.chunk_size)):
        chunk = tuple(rows[start : start + settings.chunk_size])
        # what the prompt shows of each problem: a corrected problem text is a new chunk
        content_hash = settings_hash(
            [(row["id"], row["problem"], row.get("reference_solution")) for row in chunk]
        )
        prefix = f"{run_key}/{index:05d}-{content_hash}"
        first, wanted = 0, settings.samples_for(benchmark)
        while first < wanted:
            end = max(ranges.get((prefix, first), ()), default=wanted)
            samples = range(first, end)
            plans.append(
                ChunkPlan(f"{prefix}/{first:05d}-{end:05d}", index=index, problems=chunk, samples=samples)
            )
            first = end
    return plans


def _saved_sample_ranges(saved: Iterable[str], *, run_key: str) -> dict[tuple[str, int], list[int]]:
    """(problem chunk prefix, first sample) -> the ends of the saved ranges that start there."""
    ranges: dict[tuple[str, int], list[int]] = {}
    for chunk_id in saved:
        prefix, _, span = chunk_id.rpartition("/")
        first, _, end = span.partition("-")
        if prefix.startswith(f"{run_key}/") and first.isdigit() and end.isdigit() and int(end) > int(first):
            ranges.setdefault((prefix, int(first)), []).append(int(end))
    return ranges


def run_key(*, settings: GenerationParams, benchmark: str, model: str, prompts: list[PromptTemplate]) -> str:
    """Hash of everything that changes what is generated for a problem (not of which problems, nor how many
    samples: sample i is the same whatever the count).

    Masked reference solutions enter through the masking settings, not their text: the text comes from the
    model, and a re-run that masks again must not invalidate every chunk.
    """
    selection = settings.benchmarks[benchmark]
    return settings_hash(
        {
            "model": model,
            "engine": settings.engine,
            "prompts": sorted(prompt.content_hash for prompt in prompts),
            "chat_template": settings.use_chat_template,
            "sampling": settings.sampling.model_dump(),
            "interpreter": settings.interpreter.model_dump(),
            "seed": settings.seed,
            "chunk_size": settings.chunk_size,
            "benchmark": benchmark,
            "solution_prefix": selection.solution_prefix,
            "masking": {**settings.masking.model_dump(), "scheme": MASKING_SCHEME}
            if _needs_masks(prompts)
            else None,
        }
    )


def generate_solutions(
    problems: pd.DataFrame,
    masked_solutions: pd.DataFrame,
    checkpoint: ModelDirectory,
    completed_chunks: dict[str, Callable[[], pd.DataFrame]],
    settings: GenerationParams,
) -> dict[str, Callable[[], pd.DataFrame]]:
    """The chunks of this shard that are not on disk yet, each computed when the dataset saves it.

    Returning functions lets the chunk dataset persist every chunk as soon as it is generated, so a killed
    run keeps its finished chunks; chunks already on disk are not generated again. Consecutive chunks are
    generated together up to ``batch_size`` samples, so the engine gets full batches even with small chunks.

    Samples the engine failed are not finished work: their chunk is saved as unfinished and the next run
    generates just those samples again. When more than ``max_engine_error_share`` of the samples fail, saving
    fails once every chunk is on disk (at once when a whole batch failed: the server is not serving) with a
    message that names the server, the error and the counts.
    """
    problems = _with_masked_solutions(problems, masked_solutions)
    runs = [
        _run_jobs(problems, checkpoint, completed_chunks, run_settings, run=name)
        for name, run_settings in settings.expand_runs().items()
    ]
    return _ChunkJobs(
        {chunk_id: job for jobs in runs for chunk_id, job in jobs.items()},
        after_save=lambda: [jobs.after_save() for jobs in runs],
    )


def _run_jobs(
    problems: pd.DataFrame,
    checkpoint: ModelDirectory,
    completed_chunks: dict[str, Callable[[], pd.DataFrame]],
    settings: GenerationParams,
    *,
    run: str,
) -> _ChunkJobs:
    """The chunk jobs of one generation run."""
    benchmark = _benchmark_of(problems)
    context = _GenerationContext.create(settings=settings, benchmark=benchmark, checkpoint=checkpoint)
    plans = plan_chunks(
        problems, benchmark=benchmark, settings=settings, run_key=context.key, saved=completed_chunks
    )
    mine = [plan for plan in plans if plan.index % settings.num_shards == settings.shard]
    todo = [plan for plan in mine if not _is_finished(completed_chunks.get(plan.chunk_id))]
    unfinished = {
        plan.chunk_id: completed_chunks[plan.chunk_id] for plan in todo if plan.chunk_id in completed_chunks
    }
    logger.info(
        "%s%s: %d problems x %d samples in %d chunks, %d for shard %d/%d, %d already done, %d to generate%s "
        "(run key %s)",
        benchmark,
        "" if run == DEFAULT_RUN else f" run {run}",
        sum(len(p.problems) for p in plans if p.samples.start == 0),
        settings.samples_for(benchmark),
        len(plans),
        len(mine),
        settings.shard,
        settings.num_shards,
        len(mine) - len(todo),
        len(todo),
        f" ({len(unfinished)} to complete: samples the engine failed)" if unfinished else "",
        context.key,
    )
    if todo:
        _check_prompts_fit(todo, context=context)
    progress = _Progress(total=sum(plan.size for plan in todo), benchmark=benchmark)
    waves = _waves(todo, batch=settings.batch_size)
    finished: dict[str, pd.DataFrame] = {}
    failures = _EngineFailures(context=context)
    return _ChunkJobs(
        {
            plan.chunk_id: functools.partial(
                _chunk_table,
                plan.chunk_id,
                wave=wave,
                finished=finished,
                context=context,
                progress=progress,
                unfinished=unfinished,
                failures=failures,
            )
            for wave in waves
            for plan in wave
        },
        after_save=failures.check,
    )


def mask_reference_solutions(
    problems: pd.DataFrame, checkpoint: ModelDirectory, settings: GenerationParams
) -> pd.DataFrame:
    """Reference solutions with their results hidden, for prompts that show a masked solution.

    The teacher masks each selected problem's reference solution (greedy, ``generation.masking`` prompt);
    where its text still gives the answer away (or is empty), the deterministic heuristic masks instead.
    Benchmarks whose prompt shows no masked solution get an empty table and start no engine.
    """
    benchmark = _benchmark_of(problems)
    contexts = [
        _GenerationContext.create(settings=run, benchmark=benchmark, checkpoint=checkpoint)
        for run in settings.expand_runs().values()
    ]
    masked_runs = [context for context in contexts if _needs_masks(list(context.prompts.values()))]
    if not masked_runs:
        return pd.DataFrame(columns=MASKED_COLUMNS)
    context = masked_runs[0]  # the teacher of the first run that shows masked solutions masks them
    limits = [c.selection.max_problems for c in masked_runs]
    rows = problems.to_dict(orient="records")[: None if None in limits else max(limits)]
    if without := [row["id"] for row in rows if not isinstance(row.get("reference_solution"), str)]:
        raise ValueError(
            f"generation.{benchmark}: the prompt shows a masked reference solution, but {len(without)} problems "
            f"have no reference_solution, e.g. {without[0]}"
        )
    prompt = load_prompt(settings.masking.prompt, examples=settings.masking.examples)
    sampling = SamplingParams(temperature=0.0, max_tokens=settings.masking.max_tokens)
    requests = [
        GenerationRequest(
            prompt=prompt.render(
                problem=row["problem"],
                reference_solution=row["reference_solution"],
                chat_template=context.chat_template,
            ),
            sampling=sampling,
        )
        for row in rows
    ]
    logger.info("generation.%s: masking %d reference solutions", benchmark, len(requests))
    completions = shared_engine(context.engine_settings()).generate(requests)
    records = []
    for row, completion in zip(rows, completions, strict=True):
        masked = completion.text.strip()
        answer = row.get("expected_answer") or ""
        leaked = (
            not masked or completion.finish_reason != "stop" or masked_solution_leaks_answer(masked, answer)
        )
        if leaked:
            masked = mask_numbers_heuristically(row["reference_solution"], answer, problem=row["problem"])
        records.append(
            {
                "problem_id": row["id"],
                "masked_solution": masked,
                "masked_by": "heuristic" if leaked else "model",
                "model_output_leaked": leaked,
            }
        )
    table = pd.DataFrame.from_records(records, columns=MASKED_COLUMNS)
    logger.info(
        "generation.%s: %d of %d masked by the model, the rest by the heuristic (model text empty, cut "
        "off or giving the answer away)",
        benchmark,
        int((table["masked_by"] == "model").sum()),
        len(table),
    )
    return table


def merge_generations(
    chunks: dict[str, Callable[[], pd.DataFrame]],
    problems: pd.DataFrame,
    masked_solutions: pd.DataFrame,
    checkpoint: ModelDirectory,
    settings: GenerationParams,
) -> pd.DataFrame:
    """Samples ``0 .. num_samples - 1`` of every problem of every run, from the current run keys' chunks, in one
    table; an error lists the chunks still missing (other shards).

    Rows record their run (``generation_run``) and the sample's index in it (``run_sample_index``);
    ``sample_index`` numbers a problem's samples over all runs in order, so (problem_id, sample_index) stays the
    key of a row downstream. With one run both indices are the same.
    """
    problems = _with_masked_solutions(problems, masked_solutions)
    benchmark = _benchmark_of(problems)
    tables, offset = [], 0
    for run, run_settings in settings.expand_runs().items():
        table = _merge_run(chunks, problems, checkpoint, run_settings, benchmark=benchmark, run=run)
        tables.append(
            table.assign(
                generation_run=run,
                run_sample_index=table["sample_index"],
                sample_index=table["sample_index"] + offset,
            )
        )
        offset += run_settings.samples_for(benchmark)
    position = {row_id: i for i, row_id in enumerate(problems["id"])}
    merged = (
        pd.concat(tables, ignore_index=True)
        .assign(_position=lambda table: table["problem_id"].map(position))
        .sort_values(["_position", "sample_index"], kind="stable")
        .drop(columns="_position")
        .reset_index(drop=True)
    )
    _log_summary(merged, benchmark=benchmark)
    return merged[MERGED_COLUMNS]


def _merge_run(
    chunks: dict[str, Callable[[], pd.DataFrame]],
    problems: pd.DataFrame,
    checkpoint: ModelDirectory,
    settings: GenerationParams,
    *,
    benchmark: str,
    run: str,
) -> pd.DataFrame:
    context = _GenerationContext.create(settings=settings, benchmark=benchmark, checkpoint=checkpoint)
    plans = plan_chunks(problems, benchmark=benchmark, settings=settings, run_key=context.key, saved=chunks)
    missing = [plan for plan in plans if plan.chunk_id not in chunks]
    if missing:
        where = "" if run == DEFAULT_RUN else f" run {run}"
        raise ValueError(
            f"generation.{benchmark}{where}: {len(missing)} of {len(plans)} chunks are not generated yet (chunk "
            f"indices {[plan.index for plan in missing][:20]}; with num_shards N, chunk i belongs to shard i % N). "
            "Run the missing shards' generate node, then merge again."
        )
    tables = [chunks[plan.chunk_id]() for plan in plans]
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=GENERATION_COLUMNS)
    # a saved range may reach past a lowered num_samples
    return merged[merged["sample_index"] < settings.samples_for(benchmark)][GENERATION_COLUMNS]


def _benchmark_of(problems: pd.DataFrame) -> str:
    names = problems["benchmark"].unique().tolist() if "benchmark" in problems else []
    if len(names) != 1:
        raise ValueError(f"expected the problems of one benchmark, got {names or 'an empty table'}")
    return str(names[0])


def _with_masked_solutions(problems: pd.DataFrame, masked_solutions: pd.DataFrame) -> pd.DataFrame:
    if masked_solutions.empty:
        return problems.assign(masked_solution=None)
    by_problem = masked_solutions.set_index("problem_id")["masked_solution"]
    return problems.assign(masked_solution=problems["id"].map(by_problem))


def _needs_masks(prompts: list[PromptTemplate]) -> bool:
    return any("masked_solution" in prompt.fields for prompt in prompts)


@dataclass(frozen=True)
class _GenerationContext:
    settings: GenerationParams
    selection: BenchmarkGeneration
    benchmark: str
    checkpoint: ModelDirectory
    prompts: dict[str | None, PromptTemplate]  # by MATH subject for examples=by_subject, else {None: prompt}
    model: str
    key: str

    @classmethod
    def create(
        cls, *, settings: GenerationParams, benchmark: str, checkpoint: ModelDirectory
    ) -> _GenerationContext:
        if benchmark not in settings.benchmarks:
            raise ValueError(f"generation.benchmarks has no entry for {benchmark}")
        selection = settings.benchmarks[benchmark]
        if selection.examples == BY_SUBJECT:
            prompts: dict[str | None, PromptTemplate] = {
                subject: load_prompt(selection.prompt, examples=example_set)
                for subject, example_set in MATH_SUBJECT_SETS.items()
            }
        else:
            prompts = {None: load_prompt(selection.prompt, examples=selection.examples)}
        model = str(settings.engine.get("model") or checkpoint.path)
        identity = _model_identity(model, checkpoint=checkpoint)
        key = run_key(settings=settings, benchmark=benchmark, model=identity, prompts=list(prompts.values()))
        return cls(settings, selection, benchmark, checkpoint, prompts, model, key)

    @functools.cached_property
    def chat_template(self) -> Callable[[list[dict[str, str]]], str] | None:
        if not self.settings.use_chat_template:
            return None
        model_dir = self.engine_settings().get("model")
        if self.settings.engine["kind"] == "vllm" and model_dir and Path(model_dir).is_dir():
            tokenizer = ModelDirectory(path=Path(model_dir)).load_tokenizer()  # the model actually served
        else:
            tokenizer = self.checkpoint.load_tokenizer()
        return lambda messages: tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def prompt_for(self, problem: dict[str, Any]) -> PromptTemplate:
        if None in self.prompts:
            return self.prompts[None]
        subject = (problem.get("metadata") or {}).get("subject")
        if subject not in self.prompts:
            raise ValueError(
                f"generation.benchmarks.{self.benchmark}.examples={BY_SUBJECT}: problem {problem['id']} has "
                f"metadata.subject {subject!r}, not one of {sorted(s for s in self.prompts if s)}"
            )
        return self.prompts[subject]

    def render(self, problem: dict[str, Any]) -> str:
        masked = problem.get("masked_solution")
        return self.prompt_for(problem).render(
            problem=problem["problem"],
            reference_solution=problem.get("reference_solution"),
            masked_solution=masked if isinstance(masked, str) else None,
            chat_template=self.chat_template,
        )

    def engine_settings(self) -> dict[str, Any]:
        settings = dict(self.settings.engine)
        if settings["kind"] == "vllm":
            settings.setdefault("model", str(self.checkpoint.path))
        return settings


def _model_identity(model: str, *, checkpoint: ModelDirectory) -> str:
    """What the run key knows of the model: the checkpoint's content hash when the engine serves the catalog
    checkpoint (so moving the project, or another path to the same weights, reuses the work, and other weights
    at the same path do not), else the name the engine settings give (an OpenAI-compatible server's model)."""
    directory = checkpoint.path if model == str(checkpoint.path) else Path(model)
    if (directory / "config.json").is_file():
        return f"sha256:{ModelDirectory(path=directory).content_hash}"
    return model


def _check_prompts_fit(plans: list[ChunkPlan], *, context: _GenerationContext) -> None:
    """A ValueError before any generation when a prompt leaves the model no room to answer.

    Only engines that can count tokens are checked (in-process vLLM); every sample of such a prompt would
    fail, so it is a configuration error (context too short for the prompt), not a per-sample one.
    """
    engine = shared_engine(context.engine_settings())
    count = getattr(engine, "count_tokens", None)
    if not callable(count):
        return
    if callable(start := getattr(engine, "start", None)):
        start()  # the context length is only known once started when the settings do not give it
    limit = int(engine.max_model_len) - 1  # vLLM needs room for one generated token at least
    prefix = context.selection.solution_prefix
    too_long = [
        (problem["id"], tokens)
        for plan in plans
        for problem in plan.problems
        if (tokens := count(context.render(problem) + prefix)) > limit
    ]
    if too_long:
        longest = max(too_long, key=lambda item: item[1])
        raise ValueError(
            f"{context.benchmark}: {len(too_long)} prompts do not fit the context of {context.model} "
            f"({limit + 1} tokens), the longest is problem {longest[0]} with {longest[1]} tokens. Raise "
            "engine.vllm.max_model_len (up to the model's limit), use a prompt with fewer few-shot examples, or "
            "select fewer problems."
        )


def _waves(plans: list[ChunkPlan], *, batch: int) -> list[list[ChunkPlan]]:
    """Consecutive chunks grouped so that each group has about ``batch`` samples (at least one chunk)."""
    waves: list[list[ChunkPlan]] = []
    for plan in plans:
        if waves and sum(p.size for p in waves[-1]) + plan.size <= batch:
            waves[-1].append(plan)
        else:
            waves.append([plan])
    return waves


def _chunk_table(
    chunk_id: str,
    *,
    wave: list[ChunkPlan],
    finished: dict[str, pd.DataFrame],
    context: _GenerationContext,
    progress: _Progress,
    unfinished: dict[str, Callable[[], pd.DataFrame]],
    failures: _EngineFailures,
) -> pd.DataFrame:
    """The chunk's samples; the first chunk of a wave to be saved generates the whole wave.

    A wave whose every sample the engine failed stops the run here (when the share passes the limit), before
    the next wave: the server is not serving, and each further request would only wait out its retries.
    """
    if chunk_id not in finished:
        failures.start_wave()
        try:
            finished.update(
                _generate_wave(
                    wave, context=context, progress=progress, unfinished=unfinished, failures=failures
                )
            )
            failures.end_wave()
        except BaseException:
            progress.close()  # the run stops here: end the bar before the error is shown
            raise
    table = finished.pop(chunk_id)
    failures.count_saved(table)
    return table


def _generate_wave(
    wave: list[ChunkPlan],
    *,
    context: _GenerationContext,
    progress: _Progress,
    unfinished: dict[str, Callable[[], pd.DataFrame]],
    failures: _EngineFailures,
) -> dict[str, pd.DataFrame]:
    """The wave's chunks; of a chunk saved unfinished, only the samples the engine failed are generated."""
    settings = context.settings
    interpreter = InterpreterSettings(**settings.interpreter.model_dump())
    tasks: dict[str, list[SolutionTask]] = {}
    rows: dict[str, dict[str, Any]] = {}
    kept = _finished_samples(wave, unfinished)
    progress.expect_fewer(len(kept))
    keys: dict[str, list[str]] = {}  # each chunk's samples in order
    for plan in wave:
        tasks[plan.chunk_id] = []
        keys[plan.chunk_id] = []
        for problem in plan.problems:
            prompt_template = context.prompt_for(problem)
            prompt = context.render(problem)
            for sample_index in plan.samples:
                seed = _sample_seed(settings.seed, problem["id"], sample_index)
                sampling = SamplingParams(
                    temperature=settings.sampling.temperature,
                    top_p=settings.sampling.top_p,
                    max_tokens=settings.sampling.max_tokens,
                    stop=tuple(settings.sampling.stop),
                    seed=seed,
                )
                key = f"{problem['id']}#{sample_index}"
                keys[plan.chunk_id].append(key)
                if key in kept:
                    continue
                tasks[plan.chunk_id].append(
                    SolutionTask(
                        key=key, prompt=prompt, sampling=sampling, prefix=context.selection.solution_prefix
                    )
                )
                rows[key] = {
                    "problem_id": problem["id"],
                    "sample_index": sample_index,
                    "seed": seed,
                    "model": context.model,
                    "engine": settings.engine["kind"],
                    "prompt_name": prompt_template.name,
                    "prompt_hash": prompt_template.content_hash,
                    "sampling": settings.sampling.model_dump(),
                }
    engine = shared_engine(context.engine_settings())
    if callable(start := getattr(engine, "start", None)):
        start()  # vLLM starts lazily; start it before the bar opens so tokens/s measures generation only
    sandbox = shared_sandbox(
        timeout_s=interpreter.code_timeout_s, max_output_chars=interpreter.max_output_chars
    )
    progress.start()

    def on_finished(task: SolutionTask, result: SolutionResult) -> None:
        progress.update(result)
        failures.record(result)

    results = solve_with_code(
        [task for chunk_tasks in tasks.values() for task in chunk_tasks],
        engine=engine,
        runner=sandbox,
        settings=interpreter,
        on_finished=on_finished,
    )
    if progress.done:
        progress.close()
    return {
        chunk_id: pd.DataFrame.from_records(
            [kept[key] if key in kept else rows[key] | asdict(results[key]) for key in chunk_keys],
            columns=GENERATION_COLUMNS,
        )
        for chunk_id, chunk_keys in keys.items()
    }


def _is_finished(chunk: Callable[[], pd.DataFrame] | None) -> bool:
    """A chunk on disk with no sample the engine failed (saved unfinished chunks are generated again)."""
    return chunk is not None and not (isinstance(chunk, SavedChunk) and chunk.unfinished)


def _finished_samples(
    wave: list[ChunkPlan], unfinished: dict[str, Callable[[], pd.DataFrame]]
) -> dict[str, dict[str, Any]]:
    """``problem id#sample index`` -> row, for the samples of the wave's unfinished chunks that are finished."""
    kept: dict[str, dict[str, Any]] = {}
    for plan in wave:
        if plan.chunk_id not in unfinished:
            continue
        table = unfinished[plan.chunk_id]()
        for row in table[table["finish_reason"] != ENGINE_ERROR].to_dict(orient="records"):
            kept[f"{row['problem_id']}#{int(row['sample_index'])}"] = row
    return kept


class _ChunkJobs(dict):
    """``{chunk id: function that generates it}``, with the check the chunk dataset runs once all are saved."""

    def __init__(
        self, jobs: dict[str, Callable[[], pd.DataFrame]], *, after_save: Callable[[], None]
    ) -> None:
        super().__init__(jobs)
        self.after_save = after_save


@dataclass
class _EngineFailures:
    """The samples this run generated and those the engine failed, checked against max_engine_error_share."""

    context: _GenerationContext
    generated: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # error text -> samples
    saved: Counter[str] = field(default_factory=Counter)  # "complete" / "unfinished" -> chunks handed to save
    _wave: list[int] = field(default_factory=lambda: [0, 0])  # this wave's samples, failed ones

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def start_wave(self) -> None:
        self._wave = [0, 0]

    def record(self, result: SolutionResult) -> None:
        self.generated += 1
        self._wave[0] += 1
        if result.finish_reason == ENGINE_ERROR:
            self.errors[result.error or "no error message"] += 1
            self._wave[1] += 1

    def end_wave(self) -> None:
        generated, failed = self._wave
        if generated and failed == generated:
            self.check(stopped_early=True)

    def count_saved(self, table: pd.DataFrame) -> None:
        self.saved["unfinished" if (table["finish_reason"] == ENGINE_ERROR).any() else "complete"] += 1

    def check(self, *, stopped_early: bool = False) -> None:
        """EngineError when the share of failed samples passes the limit; a warning below it."""
        if not self.failed:
            return
        limit = self.context.settings.max_engine_error_share
        share = self.failed / self.generated
        error, count = self.errors.most_common(1)[0]
        error = error if len(error) <= 300 else error[:299] + "…"
        counts = (
            f"the engine failed {self.failed} of {self.generated} samples ({share:.0%}) on "
            f"{_engine_description(self.context)}; most common error ({count} samples): {error}"
        )
        if share <= limit:
            logger.warning(
                "%s: %s. Within max_engine_error_share %g: the %d chunks holding them are saved as unfinished "
                "and the next run generates those samples again.",
                self.context.benchmark,
                counts,
                limit,
                self.saved["unfinished"],
            )
            return
        stopped = (
            " and every sample of the last batch failed, so the run stopped there" if stopped_early else ""
        )
        with_failed = (
            f", and {self.saved['unfinished']} holding failed samples" if self.saved["unfinished"] else ""
        )
        raise EngineError(
            f"{self.context.benchmark}: {counts}. That is more than max_engine_error_share {limit:g}{stopped}. "
            f"The {self.saved['complete']} chunks this run finished are saved{with_failed}; once the server "
            "works, run the same command again: it generates only what is missing."
        )


def _engine_description(context: _GenerationContext) -> str:
    settings = context.engine_settings()
    if settings["kind"] == "openai":
        urls = settings.get("base_urls") or []
        urls = [urls] if isinstance(urls, str) else urls
        return f"the OpenAI-compatible server {', '.join(urls)} (model {settings.get('model')})"
    return f"{settings['kind']} (model {settings.get('model') or context.model})"


class _Progress:
    """One bar per benchmark over all its samples: problems done, samples/s and tokens/s."""

    def __init__(self, *, total: int, benchmark: str) -> None:
        self._total, self._benchmark = total, benchmark
        self._bar: tqdm | None = None
        self._tokens = 0
        self._started = 0.0

    def start(self) -> None:
        """Open the bar when generation begins (after the engine started), so tokens/s measures generation."""
        if self._bar is None:
            self._started = time.monotonic()
            self._bar = tqdm(
                total=self._total, desc=f"generation {self._benchmark}", unit="sample", mininterval=2
            )

    def expect_fewer(self, count: int) -> None:
        """``count`` samples of the planned ones need no generation (finished samples of unfinished chunks)."""
        if count:
            self._total -= count
            if self._bar is not None:
                self._bar.total = self._total
                self._bar.refresh()

    def update(self, result: SolutionResult) -> None:
        self.start()
        self._tokens += result.tokens_out
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._bar.update(1)
        self._bar.set_postfix(tokens_per_s=f"{self._tokens / elapsed:.0f}", refresh=False)

    @property
    def done(self) -> bool:
        return self._bar is not None and self._bar.n >= self._total

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
    if failed := int((generations["finish_reason"] == ENGINE_ERROR).sum()):
        logger.warning(
            "generation.%s: %d of %d samples failed in the engine (finish_reason %s, see their error); their "
            "chunks are unfinished and the next run generates those samples again",
            benchmark,
            failed,
            len(generations),
            ENGINE_ERROR,
        )


def _sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
