"""Project hooks."""

from __future__ import annotations

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from .params import validate_parameters
from .run_resources import close_shared_resources, use_credentials


class ParameterValidationHooks:
    """Validate every parameters block against its pydantic model before anything runs."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        validate_parameters(context.params)


class SharedResourceHooks:
    """Hand the engines their credentials; shut down the engines and sandbox pools a run started, whether it
    succeeded or not."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        # Nodes never see credentials; the engine factory looks up the entry that engine settings name.
        try:
            credentials = context.config_loader["credentials"]
        except MissingConfigException:  # no conf/local/credentials.yml: engines that need none still run
            credentials = {}
        use_credentials(credentials)

    @hook_impl
    def after_pipeline_run(self) -> None:
        close_shared_resources()

    @hook_impl
    def on_pipeline_error(self) -> None:
        close_shared_resources()
