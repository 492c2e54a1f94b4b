"""Few-shot example sets: our own problems with code-interpreter solutions, stored as YAML."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .errors import PromptError

EXAMPLES_DIR = "examples"

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

# YAML block scalars end with a newline; the templates decide the spacing, so every text is stripped.
Text = Annotated[str, StringConstraints(strip_whitespace=True)]
RequiredText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FewShotExample(BaseModel):
    """One worked example; the reference fields are needed only by templates that show them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    problem: RequiredText
    solution: RequiredText
    answer: RequiredText
    reference_solution: Text | None = None
    masked_reference_solution: Text | None = None


EXAMPLE_FIELDS = tuple(FewShotExample.model_fields)
"""The fields an example template may show."""


class ExampleSet(BaseModel):
    """An example set exactly as its YAML file has it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: int = Field(ge=1, strict=True)
    description: Text = ""
    examples: tuple[FewShotExample, ...] = Field(min_length=1)


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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PromptError(f"{kind}/{name}.yml: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise PromptError(f"{kind}/{name}.yml: expected a mapping at the top level")
    if data.get("name") != name:
        raise PromptError(f"{kind}/{name}.yml: 'name' must be {name!r}, got {data.get('name')!r}")
    return data


@functools.cache
def load_example_set(name: str) -> ExampleSet:
    """The example set ``name``; PromptError listing the available sets when unknown, naming the file and
    the field when malformed."""
    data = read_yaml(EXAMPLES_DIR, name, available=available_example_sets())
    try:
        return ExampleSet.model_validate(data)
    except ValidationError as error:
        raise PromptError.invalid(f"{EXAMPLES_DIR}/{name}.yml", error) from None
