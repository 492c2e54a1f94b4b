"""Settings of the sandbox: per-block limits and the shape of the worker pool."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

# Imported once per worker, before any model code, so a block never pays for them.
DEFAULT_PRELOAD = (
    "math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "statistics", "random",
    "re", "string", "heapq", "bisect", "operator", "datetime", "numpy", "sympy", "mpmath",
)  # fmt: skip
# Third-party packages made visible, read-only, inside the sandbox (with their compiled libraries).
DEFAULT_PACKAGES = ("numpy", "sympy", "mpmath", "scipy")


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Limits of one solution (session). ``timeout_s`` and ``max_output_chars`` apply per block."""

    timeout_s: float = 10.0
    max_output_chars: int = 1000
    memory_mb: int = 1024  # address space on top of the preloaded libraries
    cpu_seconds: int = 120  # CPU time of a session process over all its blocks
    file_size_mb: int = 16
    tmp_size_mb: int = 64
    open_files: int = 256
    processes: int = 32  # processes and threads of one session

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How many workers, what they preload, and whether isolation is on (it is unless you say UNSAFE)."""

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    sessions_per_worker: int = 16  # live solutions a worker keeps; the least recently used is evicted
    max_blocks_per_worker: int = 20_000  # a worker (its zygote) is replaced after this many blocks
    # A session process serves this many solutions, reset in between, before it is replaced (1: a fresh
    # process for every solution, the strictest separation between solutions, about 3x slower on tiny blocks).
    max_solutions_per_process: int = 64
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    warm_up: bool = True  # run a few sympy/numpy calls in the zygote so sessions inherit warm caches
    bwrap: str | None = None  # path of the bwrap binary; found on PATH when None
    unsafe_no_isolation: bool = False  # runs model code as a plain subprocess of this process. Tests only.

    def __post_init__(self) -> None:
        counts = (
            self.workers,
            self.sessions_per_worker,
            self.max_blocks_per_worker,
            self.max_solutions_per_process,
        )
        if min(counts) < 1:
            raise ValueError("workers, sessions_per_worker and the max_* counts must be at least 1")
        if self.sessions_per_worker > 900:
            raise ValueError("sessions_per_worker must be at most 900")
        if self.limits.timeout_s <= 0 or self.limits.max_output_chars < 0:
            raise ValueError("timeout_s must be positive and max_output_chars non-negative")
