"""Isolated, fast execution of model-generated Python (no Kedro import).

Quick use (a default pool is created on first use and closed at exit)::

    from openmath_kedro import sandbox

    sandbox.execute("print(2 + 2)").output              # '4\\n'
    with sandbox.new_session() as solution:             # one session per solution
        solution.execute("from sympy import *; x = symbols('x')")
        solution.execute("solve(x**2 - 4, x)").output   # '[-2, 2]\\n'

See README.md in this package for the isolation model, the limits and the unsafe mode.
"""

from __future__ import annotations

from .config import SandboxConfig, SandboxLimits
from .default_pool import configure, default_pool, execute, execute_async, execute_many, new_session
from .isolation import INSTALL_HINT, SandboxUnavailableError
from .pool import SandboxPool, Session
from .result import ErrorKind, ExecutionResult

__all__ = [
    "INSTALL_HINT",
    "ErrorKind",
    "ExecutionResult",
    "SandboxConfig",
    "SandboxLimits",
    "SandboxPool",
    "SandboxUnavailableError",
    "Session",
    "configure",
    "default_pool",
    "execute",
    "execute_async",
    "execute_many",
    "new_session",
]
