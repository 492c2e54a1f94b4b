"""Project hooks."""

from __future__ import annotations

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from .params import validate_parameters


class ParameterValidationHooks:
    """Validate every parameters block against its pydantic model before anything runs."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        validate_parameters(context.params)
