"""Few-shot example sets: our own problems with code-interpreter solutions, stored as YAML."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from .errors import PromptError

EXAMPLES_DIR = "examples"
EXAMPLE_FIELDS = ("problem", "solution", "answer", "reference_solution", "masked_reference_solution")
_REQUIRED_FIELDS = ("problem", "solution", "answer")
_SET_KEYS = {"name", "version", "description", "examples"}

# MATH's `type` values -> the subject-specific example set.
MATH_SUBJECT_SETS = {
    "Algebra": "math_algebra",
    "Counting & Probability": "math_counting_and_probability",
    "Geometry": "math_geometry",
    "Intermediate Algebra": "math_intermediate_algebra",
    "Number Theory": "math_number_theory",
    "Prealgebra": "math_prealgebra",
    "Precalculus": "math_precalculus",
}


@dataclass(frozen=True)
class FewShotExample:
    """One worked example; the reference fields are needed only by templates that show them."""

    problem: str
    solution: str
    answer: str
    reference_solution: str | None = None
    masked_reference_solution: str | None = None

    def field(self, name: str) -> str | None:
        return getattr(self, name)


@dataclass(frozen=True)
class ExampleSet:
    name: str
    version: int
    description: str
    examples: tuple[FewShotExample, ...]


def _package_dir(kind: str) -> Any:
    return resources.files("openmath_kedro.prompts").joinpath(kind)


def yaml_names(kind: str) -> list[str]:
    return sorted(
        p.name.removesuffix(".yml") for p in _package_dir(kind).iterdir() if p.name.endswith(".yml")
    )


def available_example_sets() -> list[str]:
    """Names of the shipped example sets (file names under examples/ without .yml)."""
    return yaml_names(EXAMPLES_DIR)


def read_yaml(kind: str, name: str, *, available: list[str]) -> dict[str, Any]:
    """The mapping in ``<kind>/<name>.yml``; a PromptError listing ``available`` when there is none."""
    if name not in available:
        raise PromptError(f"unknown {kind[:-1]} {name!r}; available: {', '.join(available)}")
    path = _package_dir(kind).joinpath(f"{name}.yml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise PromptError(f"{kind}/{name}.yml: expected a mapping at the top level")
    if data.get("name") != name:
        raise PromptError(f"{kind}/{name}.yml: 'name' must be {name!r}, got {data.get('name')!r}")
    return data


@functools.cache
def load_example_set(name: str) -> ExampleSet:
    """The example set ``name``; PromptError listing the available sets when unknown or malformed."""
    data = read_yaml(EXAMPLES_DIR, name, available=available_example_sets())
    where = f"examples/{name}.yml"
    if unknown := set(data) - _SET_KEYS:
        raise PromptError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(data.get("version"), int):
        raise PromptError(f"{where}: 'version' must be an integer")
    raw = data.get("examples")
    if not isinstance(raw, list) or not raw:
        raise PromptError(f"{where}: 'examples' must be a non-empty list")
    return ExampleSet(
        name=name,
        version=data["version"],
        description=str(data.get("description", "")),
        examples=tuple(_example(item, where=f"{where} example {i}") for i, item in enumerate(raw)),
    )


def _example(item: Any, *, where: str) -> FewShotExample:
    if not isinstance(item, dict):
        raise PromptError(f"{where}: expected a mapping")
    if unknown := set(item) - set(EXAMPLE_FIELDS):
        raise PromptError(f"{where}: unknown fields {sorted(unknown)}")
    for key in _REQUIRED_FIELDS:
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise PromptError(f"{where}: field {key!r} is missing or empty")
    # YAML block scalars end with a newline; the templates decide the spacing, so strip it.
    return FewShotExample(**{k: (str(v).strip() if v is not None else None) for k, v in item.items()})
