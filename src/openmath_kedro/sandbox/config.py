"""Settings of the sandbox: per-block limits and the shape of the worker pool."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

# Imported once per worker, before any model code, so a block never pays for them.
DEFAULT_PRELOAD = (
    "math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "statistics", "random",
    "re", "string", "heapq", "bisect", "operator", "datetime", "numpy", "sympy", "mpmath",
)  # fmt: skip
# Third-party packages made visible, read-only, inside the sandbox (with their compiled libraries).
DEFAULT_PACKAGES = ("numpy", "sympy", "mpmath", "scipy")
# A worker has 1000 uids (isolation.allocate_uid_base): one per live session, and spare ones (zygote.py).
MAX_SESSIONS_PER_WORKER = 900


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SandboxLimits(_Settings):
    """Limits of one solution (session). ``timeout_s`` and ``max_output_chars`` apply per block."""

    timeout_s: float = Field(default=10.0, gt=0)
    max_output_chars: int = Field(default=1000, ge=0)
    memory_mb: int = Field(default=1024, ge=1, description="address space on top of the preloaded libraries")
    cpu_seconds: int = Field(
        default=120, ge=1, description="CPU time of a session process over all its blocks"
    )
    file_size_mb: int = Field(default=16, ge=1)
    tmp_size_mb: int = Field(
        default=64, ge=1, description="the private /tmp (a size of 0 would mean unlimited)"
    )
    open_files: int = Field(default=256, ge=1)
    processes: int = Field(default=32, ge=1, description="processes and threads of one session")


class SandboxConfig(_Settings):
    """How many workers, what they preload, and whether isolation is on (it is unless you say UNSAFE)."""

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    sessions_per_worker: int = Field(
        default=16,
        ge=1,
        le=MAX_SESSIONS_PER_WORKER,
        description="live solutions a worker keeps; the least recently used is evicted",
    )
    max_blocks_per_worker: int = Field(
        default=20_000, ge=1, description="a worker (its zygote) is replaced after this many blocks"
    )
    max_solutions_per_process: int = Field(
        default=64,
        ge=1,
        description="a session process serves this many solutions, reset in between, before it is replaced "
        "(1: a fresh process for every solution, the strictest separation, about 3x slower on tiny blocks)",
    )
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    warm_up: bool = Field(
        default=True, description="run a few sympy/numpy calls in the zygote so sessions inherit warm caches"
    )
    bwrap: str | None = Field(default=None, description="path of the bwrap binary; found on PATH when None")
    unsafe_no_isolation: bool = Field(
        default=False, description="runs model code as a plain subprocess of this process. Tests only."
    )
