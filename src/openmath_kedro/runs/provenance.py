"""Run provenance: every persisted output records the key of what it was made from; a stale output is missing.

The key of an output is a hash over the node that makes it (its name, the source of its module, the package
data every node may read: prompt templates and the grader version) and the keys of the node's inputs. The
inputs' keys come from parameter values, from the content of pinned raw files and model sources
(``content_key()`` of a dataset), and, for intermediate data, from the same rule one step up. So the keys of
the whole graph are known before anything runs, and a change anywhere (a parameter, a prompt, a raw file, the
teacher's weights, a node's code) changes the key of every output downstream of it, and only those.

``KeyedDataCatalog.exists`` is False for an output whose recorded key differs from the expected one, which
makes ``kedro run --only-missing-outputs`` re-run exactly the stale nodes; ``ProvenanceHooks`` installs the
expected keys before a run and records each output's key once it is saved (``data/.provenance/<name>.json``).

Why not a library: Kedro keeps no record of what an output was made from, and make-like tools (DVC,
Snakemake) would replace Kedro's runner rather than inform it. Expensive nodes also keep their own
content-keyed resume state (generation chunks, training runs), so a re-run node reuses the work it can.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import inspect
import json
import logging
import sys
import typing
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from pydantic import BaseModel, TypeAdapter, ValidationError

from openmath_kedro.answers import GRADER_VERSION
from openmath_kedro.code_interpreter import ENGINE_ERROR
from openmath_kedro.datasets.atomic_write import atomic_path
from openmath_kedro.params import PARAMETER_MODELS
from openmath_kedro.prompts.masking import MASKING_SCHEME
from openmath_kedro.runs.keys import settings_hash

logger = logging.getLogger(__name__)

STORE_DIR = Path("data") / ".provenance"  # relative to the project, so it moves with data/

# Parameters that change how work is done, not what it produces: a change of these keeps every output.
EXECUTION_ONLY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "generation": ("batch_size", "shard", "num_shards", "max_engine_error_share"),
    "evaluation": ("batch_size", "shard", "num_shards", "max_engine_error_share"),
}


class ProvenanceStore:
    """One small JSON record per dataset name under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._file(name).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def key(self, name: str) -> str | None:
        record = self.read(name)
        return record.get("key") if record else None

    def write(self, name: str, record: dict[str, Any]) -> None:
        with atomic_path(
            self._file(name)
        ) as staging:  # a record is whole or absent, even when the run is killed
            staging.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class KeyedDataCatalog(DataCatalog):
    """Kedro's catalog, where an output whose recorded key is not the expected one does not exist.

    Without expected keys (kedro-viz, notebooks) it behaves exactly like ``DataCatalog``.
    """

    _expected_keys: dict[str, str] | None = None
    _store: ProvenanceStore | None = None

    def expect_keys(self, keys: dict[str, str], store: ProvenanceStore) -> None:
        self._expected_keys, self._store = keys, store

    def is_stale(self, ds_name: str) -> bool:
        """True when the dataset has an expected key and its record says it was made from something else."""
        if not self._expected_keys or ds_name not in self._expected_keys or self._store is None:
            return False
        return self._store.key(ds_name) != self._expected_keys[ds_name]

    def exists(self, ds_name: str) -> bool:
        return super().exists(ds_name) and not self.is_stale(ds_name)


def package_data_version() -> str:
    """Hash of what every node may read besides its inputs: the prompt templates and example sets, and the
    grader's version (bumped whenever a verdict can change)."""
    return _package_data_version()


@functools.cache
def _package_data_version() -> str:
    prompts = importlib.resources.files("openmath_kedro.prompts")
    digest = hashlib.sha256(f"{GRADER_VERSION} masking-{MASKING_SCHEME}".encode())
    for path in sorted(_resource_files(prompts), key=lambda item: item[0]):
        digest.update(path[0].encode())
        digest.update(path[1].read_bytes())
    return digest.hexdigest()[:16]


def _resource_files(root: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for entry in root.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _resource_files(entry, f"{name}/")
        elif not entry.name.endswith((".pyc", ".py")):  # code is covered by the node's module hash
            yield name, entry


def node_identity(node: Node) -> str:
    """The node's name, the source of the module that defines its function, and bound arguments."""
    function: Callable[..., Any] = node.func
    bound: dict[str, Any] = {}
    while isinstance(function, functools.partial):
        bound = {**function.keywords, **bound}
        function = function.func
    function = inspect.unwrap(function)
    return settings_hash(
        {
            "node": node.name,
            "function": f"{function.__module__}.{function.__qualname__}",
            "module": _module_source_hash(function.__module__),
            "bound": bound,
            "package_data": package_data_version(),
        }
    )


@functools.cache
def _module_source_hash(module_name: str) -> str:
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else module_name
    except (OSError, TypeError):
        source = module_name
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def parameter_key(name: str, value: Any) -> str:
    """Key of a ``params:`` input: its canonical value, without the fields that only change how work is done."""
    block = name.removeprefix("params:").split(".")[0]
    value = canonical_parameter(name, value)
    if name.count(".") == 0 and isinstance(value, dict) and block in EXECUTION_ONLY_PARAMETERS:
        value = {k: v for k, v in value.items() if k not in EXECUTION_ONLY_PARAMETERS[block]}
    return settings_hash({"parameter": name, "value": value})


def canonical_parameter(name: str, value: Any) -> Any:
    """A ``params:`` value as its model's JSON dump, defaults included, whether it is that model or raw.

    Kedro turns a block into a model only for the pipelines a run validates (those whose nodes hint one), so
    the same block reaches the keys of a whole-graph as a mapping in one run and as a model in another; both
    must give one key. A value whose place has no model (or that does not validate: the start-of-run check
    rejects those) stays as it is.
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    declared = _declared_type(name.removeprefix("params:").split("."))
    if declared is None:
        return value
    adapter = TypeAdapter(declared)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError:
        return value


def _declared_type(path: list[str]) -> Any:
    """The type the parameters models declare at ``path`` (``generation.benchmarks.math``), or None."""
    declared: Any = PARAMETER_MODELS.get(path[0])
    for part in path[1:]:
        if isinstance(declared, type) and issubclass(declared, BaseModel) and part in declared.model_fields:
            declared = declared.model_fields[part].annotation
        elif typing.get_origin(declared) is dict:
            declared = typing.get_args(declared)[1]
        else:
            return None
    return declared


def expected_keys(
    *,
    graph: Pipeline,
    running: Pipeline,
    source_key: Callable[[str], str],
    recorded_key: Callable[[str], str | None],
) -> dict[str, str]:
    """The key every dataset of ``graph`` must carry to be up to date.

    ``graph`` is the whole project (so that a partial run sees the same keys as a full one); ``running`` the
    nodes of this run. An input made by a node outside this run keeps the key it was recorded with (the data
    on disk is what this run reads), else the expected one. ``source_key`` gives the key of a dataset that no
    node makes (parameters, raw files, model sources).
    """
    running_nodes = set(running.nodes)
    keys: dict[str, str] = {}
    for node in graph.nodes:  # topological order
        inputs = {}
        for name in node.inputs:
            if name not in keys:
                keys[name] = source_key(name)
            inputs[name] = keys[name]
        identity = node_identity(node)
        for output in node.outputs:
            expected = output_key(identity=identity, inputs=inputs, output=output)
            if node not in running_nodes and (recorded := recorded_key(output)) is not None:
                expected = recorded
            keys[output] = expected
    return keys


def output_key(*, identity: str, inputs: dict[str, str], output: str) -> str:
    return settings_hash({"node": identity, "inputs": inputs, "output": output})


def record_for(
    *, node: Node, output: str, data: Any, expected: dict[str, str], recorded_key: Callable[[str], str | None]
) -> dict[str, Any]:
    """The record of an output just saved: the key of what it was actually made from.

    That is the expected key when every input was up to date and complete. An input whose own record says
    otherwise (made from older inputs, or incomplete) passes its key on, and an output that is incomplete
    itself (``is_incomplete``) is marked so: either way the record differs from the expected key, so the next
    run makes the output again, and everything made from it, once the cause is gone.
    """
    inputs = {name: recorded_key(name) or expected[name] for name in node.inputs if name in expected}
    key = output_key(identity=node_identity(node), inputs=inputs, output=output)
    incomplete = is_incomplete(data)
    return {
        "key": f"{key}:incomplete" if incomplete else key,
        "node": node.name,
        "inputs": inputs,
        "complete": not incomplete,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def is_incomplete(data: Any) -> bool:
    """Generated samples that the engine failed (``finish_reason`` ``error``) are unfinished work."""
    columns = getattr(data, "columns", None)
    if columns is None or "finish_reason" not in columns:
        return False
    return bool((data["finish_reason"] == ENGINE_ERROR).any())


def is_persisted(catalog: DataCatalog, name: str) -> bool:
    """True for datasets that live beyond the run (not parameters, not in-memory intermediates)."""
    if name.startswith("params:") or name == "parameters" or name not in catalog:
        return False
    return not isinstance(catalog.get(name), MemoryDataset)


def source_key(catalog: DataCatalog, name: str, *, store: ProvenanceStore) -> str:
    """Key of a dataset no node of the project makes.

    Parameters by value; datasets that know their content (``content_key()``: pinned raw files, model
    sources) by it; anything else by its record if it has one. A dataset with none of these (a resume-state
    view of a node's own output, such as the finished generation chunks) adds nothing to the key.
    """
    if name.startswith("params:") or name == "parameters":
        return parameter_key(name, catalog.load(name))
    dataset = catalog.get(name) if name in catalog else None
    content_key = getattr(dataset, "content_key", None)
    if callable(content_key):
        return str(content_key())
    return store.key(name) or f"unkeyed:{name}"
