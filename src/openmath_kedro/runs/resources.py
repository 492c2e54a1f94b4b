"""Engines and sandbox pools shared by every node of a run, closed when the run ends (see hooks.py).

Starting vLLM takes tens of seconds and a sandbox pool forks its workers once; both are created on first use
(a run with nothing to generate starts neither) and reused by every node that asks for the same settings
(every benchmark of generation, every benchmark and run of one evaluated model). One engine is alive at a
time: asking for an engine with other settings (the next model) closes the previous one first, so that two
models never hold memory together on a small machine. Kedro-free: the project's hooks hand it the
credentials and close everything when a run ends; nodes of any pipeline use it without importing each other.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from openmath_kedro.engines import create_engine
from openmath_kedro.engines.base import Engine
from openmath_kedro.sandbox import SandboxConfig, SandboxLimits, SandboxPool

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_sandboxes: dict[str, SandboxPool] = {}
_credentials: dict[str, Any] = {}


def use_credentials(credentials: dict[str, Any]) -> None:
    """The run's credentials (``conf/local/credentials.yml``), for engine settings that name an entry."""
    _credentials.clear()
    _credentials.update(credentials)


def _resolve_credentials(settings: dict[str, Any]) -> dict[str, Any]:
    """``credentials: NAME`` in the engine settings becomes that entry's fields (``api_key``)."""
    name = settings.get("credentials")
    if name is None:
        return settings
    entry = _credentials.get(name)
    if not isinstance(entry, dict) or "api_key" not in entry:
        raise ValueError(
            f"engine.credentials: no entry {name!r} with an api_key in conf/local/credentials.yml "
            f"(entries: {sorted(_credentials) or 'none'})"
        )
    resolved = {key: value for key, value in settings.items() if key != "credentials"}
    return resolved | {"api_key": entry["api_key"]}


def shared_engine(settings: dict[str, Any]) -> Engine:
    """The engine for these settings (``kind`` plus the engine's own), started once per run.

    Engines with other settings are closed first (one model in memory at a time). The cache key holds the
    credentials' name, never the key itself.
    """
    key = json.dumps(settings, sort_keys=True, default=str)
    with _lock:
        if key not in _engines:
            for other in list(_engines):
                logger.info("closing the engine of %s before starting the next one", _describe(other))
                _engines.pop(other).close()
            logger.info("starting the %s engine for %s", settings.get("kind"), _describe(key))
            _engines[key] = create_engine(**_resolve_credentials(settings))
        return _engines[key]


def _describe(key: str) -> str:
    settings = json.loads(key)
    return str(settings.get("model") or settings.get("base_urls") or settings.get("kind"))


def shared_sandbox(*, timeout_s: float, max_output_chars: int) -> SandboxPool:
    """A sandbox pool (bubblewrap workers, one per core) for these limits."""
    key = f"{timeout_s}:{max_output_chars}"
    with _lock:
        if key not in _sandboxes:
            limits = SandboxLimits(timeout_s=timeout_s, max_output_chars=max_output_chars)
            _sandboxes[key] = SandboxPool(SandboxConfig(limits=limits))
        return _sandboxes[key]


def close_shared_resources() -> None:
    """Shut down every engine and sandbox pool of this run."""
    with _lock:
        for engine in _engines.values():
            engine.close()
        for pool in _sandboxes.values():
            pool.close()
        _engines.clear()
        _sandboxes.clear()
