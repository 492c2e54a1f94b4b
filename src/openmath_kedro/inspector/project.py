"""The inspector's only way to the project's data: a Kedro session's catalog and parameters.

Every table, model and label is read and written through ``context.catalog`` (``load``/``save``/``exists`` by
dataset name, dataset factories resolved by Kedro), so the app sees exactly what ``kedro run`` made, in the
environment it was started with (``--env``), and labels are a catalog dataset (``inspector.solutions.labels``,
conf/base/catalog_inspector.yml) that a notebook loads with ``catalog.load``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from openmath_kedro.benchmark_sets import EVALUATED_MODELS

from .tables import NotGenerationsShaped, TableView, empty_labels, normalize, normalize_problems, solution_set

logger = logging.getLogger(__name__)

LABELS_DATASET = "inspector.solutions.labels"
MAX_OPEN_VIEWS = 4  # datasets kept in memory (the analyzed one, compared ones)
# The artifacts whose rows are solutions, and what the dataset list calls them.
GENERATIONS_ARTIFACTS = {
    "generations": "generations",
    "graded_generations": "graded",
    "filtered_solutions": "filtering: kept",
    "selected_solutions": "filtering: selected",
    "removed_by_filters": "filtering: removed by the rules",
    "removed_solutions": "filtering: every removed row",
}
TABLE_TYPES = ("JSONLines", "Polars", "CSV", "Parquet", "Table", "Excel")
CHECKPOINTS = {
    "model_setup.student.checkpoint": "student",
    "model_setup.teacher.checkpoint": "teacher",
    "finetuning.student.averaged_checkpoint": "finetuned student",
}


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    description: str
    generations_shaped: bool


@dataclass(frozen=True)
class EngineChoice:
    """A model the Inference page can run: engine settings as ``create_engine`` takes them, and its defaults."""

    key: str
    label: str
    settings: dict[str, Any]
    prompt: str = "code_fewshot"
    use_chat_template: bool = True
    solution_prefix: str = ""


@dataclass
class InspectorProject:
    """A Kedro project opened for the inspector (one KedroSession for the app's lifetime)."""

    project_path: Path
    env: str | None = None
    _views: dict[str, tuple[Any, TableView]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _labels_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        self.project_path = Path(self.project_path).resolve()
        os.chdir(self.project_path)  # catalog paths are relative to the project root, as in `kedro run`
        bootstrap_project(self.project_path)
        self._session = KedroSession.create(project_path=self.project_path, env=self.env)
        self.context = self._session.load_context()
        self.catalog = self.context.catalog

    # ------------------------------------------------------------------------------------------ datasets

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as configured (mappings): ``context.params`` holds the models nodes get instead."""
        return self.context.config_loader["parameters"]

    def dataset_names(self) -> list[str]:
        from kedro.framework.project import pipelines

        names: set[str] = set()
        for name in ("__default__",):
            try:
                names |= set(pipelines[name].datasets())
            except Exception:  # a pipeline that fails to build: still list the catalog's own entries
                logger.warning("could not list the datasets of pipeline %s", name, exc_info=True)
        names |= set(self.catalog.keys())
        return sorted(n for n in names if not n.startswith("params:") and n != "parameters")

    def datasets(self) -> list[DatasetEntry]:
        """Existing datasets: generations-shaped ones first (by what they hold), then other tables."""
        shaped, others = [], []
        for name in self.dataset_names():
            artifact = name.rsplit(".", 1)[-1]
            try:
                exists = self.catalog.exists(name)
            except Exception:
                exists = False
            if not exists:
                continue
            if artifact in GENERATIONS_ARTIFACTS:
                shaped.append(DatasetEntry(name, GENERATIONS_ARTIFACTS[artifact], True))
            elif name != LABELS_DATASET and any(
                t in (self.catalog.get_type(name) or "") for t in TABLE_TYPES
            ):
                others.append(DatasetEntry(name, "other table", False))
        order = {"grading": 0, "generation": 1, "filtering": 2, "evaluation": 3}
        shaped.sort(key=lambda d: (order.get(d.name.split(".", 1)[0], 9), d.name))
        return shaped + others

    def _version(self, name: str) -> Any:
        """The file's modification time where the dataset has one (a new run's output reloads the view)."""
        dataset = self.catalog.get(name)
        described = dataset._describe() if dataset is not None else {}  # noqa: SLF001 - Kedro's own description
        path = described.get("filepath") or described.get("path")
        try:
            return Path(str(path)).stat().st_mtime_ns if path else None
        except OSError:
            return None

    def view(self, name: str) -> TableView:
        """The canonical view of a generations-shaped dataset (cached until its file changes)."""
        with self._lock:
            version = self._version(name)
            cached = self._views.pop(name, None)
            if cached is not None and cached[0] == version:
                self._views[name] = cached  # most recently used last
                return cached[1]
            if not self.catalog.exists(name):
                raise NotGenerationsShaped(f"{name} does not exist yet (run the pipeline that makes it)")
            table = self.catalog.load(name)
            companion = None
            match = re.fullmatch(r"filtering\.([a-z0-9_]+)\.[a-z0-9_]+", name)
            if match and f"grading.{match.group(1)}.graded_generations" in self.catalog:
                companion_name = f"grading.{match.group(1)}.graded_generations"
                if self.catalog.exists(companion_name):
                    companion = self.catalog.load(companion_name)
            frame = normalize(table, companion=companion)
            view = TableView(
                frame=frame, problems=self.problems_for(frame), solution_set_name=solution_set(name)
            )
            self._views[name] = (version, view)
            while len(self._views) > MAX_OPEN_VIEWS:  # a 1.8M-solution frame takes about 2 GB
                self._views.pop(next(iter(self._views)))
            return view

    def forget(self, name: str) -> None:
        """Drop a dataset's cached view (the next use loads it again through the catalog)."""
        with self._lock:
            self._views.pop(name, None)

    def problems_for(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The problem texts of a frame's problems, from ``data_preparation.{benchmark}.{split}_problems``."""
        prefixes = (
            frame.select(pl.col("problem_id").str.split("/").list.slice(0, 2).list.join("/").unique())
            .get_column("problem_id")
            .to_list()
        )
        tables = []
        for prefix in prefixes:
            parts = prefix.split("/")
            if len(parts) != 2:
                continue
            name = f"data_preparation.{parts[0]}.{parts[1]}_problems"
            try:
                if name in self.catalog and self.catalog.exists(name):
                    tables.append(self.catalog.load(name))
            except Exception:
                logger.warning("could not load %s", name, exc_info=True)
        return normalize_problems(tables)

    def problem_tables(self) -> list[str]:
        return [
            n
            for n in self.dataset_names()
            if re.fullmatch(r"data_preparation\.[a-z0-9_]+\.[a-z]+_problems", n) and self.catalog.exists(n)
        ]

    def load_problems(self, name: str) -> pl.DataFrame:
        return normalize_problems([self.catalog.load(name)])

    # ------------------------------------------------------------------------------------------ labels

    def labels(self) -> pl.DataFrame:
        if not self.catalog.exists(LABELS_DATASET):
            return empty_labels()
        table = self.catalog.load(LABELS_DATASET)
        if len(table) == 0:
            return empty_labels()
        frame = pl.from_pandas(table) if not isinstance(table, pl.DataFrame) else table
        schema = empty_labels().schema
        return frame.select(
            pl.col(n).cast(t, strict=False) if n in frame.columns else pl.lit(None, dtype=t).alias(n)
            for n, t in schema.items()
        )

    def set_labels(
        self, *, dataset: str, model: str, problem_id: str, sample_index: int, labels: list[str]
    ) -> pl.DataFrame:
        """Replace one solution's labels (saved through the catalog); returns every label."""
        with self._labels_lock:
            current = self.labels()
            key = solution_set(dataset)
            others = current.filter(
                ~(
                    (pl.col("solution_set") == key)
                    & (pl.col("model") == model)
                    & (pl.col("problem_id") == problem_id)
                    & (pl.col("sample_index") == sample_index)
                )
            )
            now = datetime.now(UTC).isoformat(timespec="seconds")
            added = pl.DataFrame(
                {
                    "solution_set": [key] * len(labels),
                    "model": [model] * len(labels),
                    "problem_id": [problem_id] * len(labels),
                    "sample_index": [int(sample_index)] * len(labels),
                    "label": [label.strip() for label in labels],
                    "dataset": [dataset] * len(labels),
                    "updated_at": [now] * len(labels),
                },
                schema=current.schema,
            )
            updated = pl.concat([others, added]).unique(keep="last", maintain_order=True)
            self.catalog.save(LABELS_DATASET, updated.to_pandas())
            return updated

    # ------------------------------------------------------------------------------------------ models

    def checkpoint_path(self, name: str) -> str | None:
        try:
            if name in self.catalog and self.catalog.exists(name):
                return str(Path(self.catalog.load(name).path).resolve())
        except Exception:
            logger.warning("could not load %s", name, exc_info=True)
        return None

    def engine_choices(self) -> tuple[list[EngineChoice], list[str]]:
        """The configured engines (generation's, each evaluated model's) and problems with them, as messages."""
        from openmath_kedro.params import EvaluationParams, GenerationParams

        choices: list[EngineChoice] = []
        problems: list[str] = []
        try:
            generation = GenerationParams.model_validate(self.params["generation"])
            settings = dict(generation.engine)
            label = "teacher checkpoint" if settings["kind"] == "vllm" else "generation engine"
            if settings["kind"] == "vllm" and not settings.get("model"):
                settings["model"] = self.checkpoint_path("model_setup.teacher.checkpoint")
            first = next(iter(generation.benchmarks.values()), None)
            if settings.get("model") or settings["kind"] != "vllm":
                choices.append(
                    EngineChoice(
                        key="generation",
                        label=f"generation: {label} ({_describe_engine(settings)})",
                        settings=settings,
                        prompt=first.prompt if first else "code_fewshot",
                        use_chat_template=generation.use_chat_template,
                        solution_prefix=first.solution_prefix if first else "",
                    )
                )
        except Exception as error:
            problems.append(f"generation engine: {error}")
        try:
            evaluation = EvaluationParams.model_validate(self.params["evaluation"])
            for slot, checkpoint in EVALUATED_MODELS.items():
                if slot not in evaluation.models:
                    continue
                entry = evaluation.models[slot]
                settings = dict(evaluation.engine_for(slot))
                if settings["kind"] == "vllm" and not settings.get("model"):
                    settings["model"] = (
                        str(Path(entry.path).resolve()) if entry.path else self.checkpoint_path(checkpoint)
                    )
                if settings["kind"] == "vllm" and not settings.get("model"):
                    problems.append(f"evaluation model {slot}: {checkpoint} does not exist yet")
                    continue
                choices.append(
                    EngineChoice(
                        key=f"evaluation.{slot}",
                        label=f"evaluation: {slot} ({_describe_engine(settings)})",
                        settings=settings,
                        prompt=entry.prompt,
                        use_chat_template=entry.use_chat_template,
                        solution_prefix=entry.solution_prefix,
                    )
                )
        except Exception as error:
            problems.append(f"evaluation engines: {error}")
        return choices, problems

    def interpreter_defaults(self) -> dict[str, Any]:
        generation = self.params.get("generation", {})
        return {
            "sampling": dict(generation.get("sampling", {})),
            "interpreter": dict(generation.get("interpreter", {})),
        }

    def close(self) -> None:
        self._session.close()


def _describe_engine(settings: dict[str, Any]) -> str:
    if settings.get("kind") == "openai":
        urls = settings.get("base_urls") or []
        return f"openai: {settings.get('model')} at {', '.join(urls)}"
    model = str(settings.get("model") or "")
    try:
        model = os.path.relpath(model) if model and not os.path.relpath(model).startswith("..") else model
    except ValueError:
        pass
    return f"vllm: {model}"
