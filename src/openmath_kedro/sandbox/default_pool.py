"""The process-wide pool behind the module-level functions: created on first use, closed at exit."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence

from .config import SandboxConfig
from .pool import SandboxPool, Session
from .result import ExecutionResult

_lock = threading.Lock()
_pool: SandboxPool | None = None
_config: SandboxConfig | None = None


def configure(config: SandboxConfig) -> None:
    """Use ``config`` for the default pool (closing the current one, if any)."""
    global _pool, _config
    with _lock:
        old, _pool, _config = _pool, None, config
    if old is not None:
        old.close()


def default_pool() -> SandboxPool:
    global _pool
    with _lock:
        if _pool is None or _pool.closed:
            _pool = SandboxPool(_config)
        return _pool


def new_session() -> Session:
    """A session of the default pool (use it as a context manager)."""
    return default_pool().session()


def execute(
    code: str, *, session: Session | None = None, timeout: float | None = None, max_output: int | None = None
) -> ExecutionResult:
    pool = session.pool if session is not None else default_pool()
    return pool.execute(code, session=session, timeout=timeout, max_output=max_output)


def execute_many(
    codes: Sequence[str],
    *,
    sessions: Sequence[Session | None] | None = None,
    timeout: float | None = None,
    max_output: int | None = None,
) -> list[ExecutionResult]:
    return default_pool().execute_many(codes, sessions=sessions, timeout=timeout, max_output=max_output)


async def execute_async(
    code: str, *, session: Session | None = None, timeout: float | None = None, max_output: int | None = None
) -> ExecutionResult:
    pool = session.pool if session is not None else default_pool()
    return await pool.execute_async(code, session=session, timeout=timeout, max_output=max_output)


@atexit.register
def _close_default_pool() -> None:
    with _lock:
        pool = _pool
    if pool is not None:
        pool.close()
