"""Project hooks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from .params import validate_parameters
from .runs.provenance import (
    STORE_DIR,
    KeyedDataCatalog,
    ProvenanceStore,
    expected_keys,
    is_persisted,
    record_for,
    source_key,
)
from .runs.resources import close_shared_resources, use_credentials

logger = logging.getLogger(__name__)


class ParameterValidationHooks:
    """Validate every parameters block against its pydantic model before anything runs.

    Kedro itself turns each ``params:`` input whose node hints a pydantic model into that model when it builds
    the catalog, but only for the pipelines being run and one error line per block; this check covers every
    block (unknown ones too) and lists every problem at its own location. It reads the raw configuration:
    ``context.params`` would run Kedro's conversion first and fail with its message instead.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        try:
            raw = context.config_loader["parameters"]  # conf files merged with --params
        except MissingConfigException:
            raw = {}
        validate_parameters(raw)


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


class ProvenanceHooks:
    """Install the key every output must carry before a run; record each output's key once it is saved.

    With ``kedro run --only-missing-outputs`` (``make run``) an output made from other parameters, data, models
    or code counts as missing, so its node runs again, and so does everything downstream (see runs/provenance.py).
    """

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._store: ProvenanceStore | None = None
        self._catalog: DataCatalog | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._store = ProvenanceStore(Path(context.project_path) / STORE_DIR)

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        store = self._store or ProvenanceStore(Path(run_params["project_path"]) / STORE_DIR)
        self._store, self._catalog = store, catalog
        graph = pipelines.get("__default__") or pipeline
        self._keys = expected_keys(
            graph=graph + pipeline,
            running=pipeline,
            source_key=lambda name: source_key(catalog, name, store=store),
            recorded_key=store.key,
        )
        if isinstance(catalog, KeyedDataCatalog):
            catalog.expect_keys(self._keys, store)
            stale = sorted(
                name
                for name in pipeline.all_outputs()
                if is_persisted(catalog, name) and store.read(name) is not None and catalog.is_stale(name)
            )
            if stale:
                shown = ", ".join(stale[:12]) + (f" and {len(stale) - 12} more" if len(stale) > 12 else "")
                logger.info(
                    "%d outputs were made from other inputs and will be made again: %s", len(stale), shown
                )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        if self._store is None or self._catalog is None or dataset_name not in self._keys:
            return
        if is_persisted(self._catalog, dataset_name):
            record = record_for(
                node=node, output=dataset_name, data=data, expected=self._keys, recorded_key=self._recorded
            )
            self._store.write(dataset_name, record)

    def _recorded(self, name: str) -> str | None:
        """The record of a persisted input (None for in-memory ones: their expected key is what they are)."""
        if self._store is None or self._catalog is None or not is_persisted(self._catalog, name):
            return None
        return self._store.key(name)
