"""Engines and sandbox pools shared by every node of a run, closed when the run ends (see hooks.py).

Starting vLLM takes tens of seconds and a sandbox pool forks its workers once; both are created on first use
(a run with nothing to generate starts neither) and reused by every benchmark's node.
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


def shared_engine(settings: dict[str, Any]) -> Engine:
    """The engine for these settings (``kind`` plus the engine's own), started once per run."""
    key = json.dumps(settings, sort_keys=True, default=str)
    with _lock:
        if key not in _engines:
            logger.info("starting the %s engine", settings.get("kind"))
            _engines[key] = create_engine(**settings)
        return _engines[key]


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
