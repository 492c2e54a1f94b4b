"""Pydantic models of every parameters block, one per pipeline (validated when a run starts).

Each top-level key of the parameters belongs to exactly one pipeline; an unknown key or field is an
error, so a typo in ``parameters_*.yml`` or ``--params`` fails before any work is done.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


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


PARAMETER_MODELS: dict[str, type[_Strict]] = {
    "data_preparation": DataPreparationParams,
    "model_setup": ModelSetupParams,
}


class ParameterError(ValueError):
    """The parameters do not match their pipeline's model."""


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every top-level parameters block; raise one error that lists every problem."""
    problems = []
    validated: dict[str, BaseModel] = {}
    for key, value in params.items():
        model = PARAMETER_MODELS.get(key)
        if model is None:
            problems.append(
                f"'{key}': unknown top-level parameter (each block belongs to a pipeline: "
                f"{', '.join(sorted(PARAMETER_MODELS))})"
            )
            continue
        try:
            validated[key] = model.model_validate(value)
        except ValidationError as error:
            for item in error.errors():
                location = ".".join(str(part) for part in (key, *item["loc"]))
                problems.append(f"'{location}': {item['msg']}")
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems))
    return validated
