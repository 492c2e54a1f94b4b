"""Shared pools for the sandbox tests: one isolated (bubblewrap), one explicitly unsafe for contrast."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from openmath_kedro.sandbox import SandboxConfig, SandboxLimits, SandboxPool

# Set before the pools start: the unsafe pool must see it (proving the attack works there), the sandbox not.
SECRET_ENV_NAME = "OPENMATH_SANDBOX_TEST_SECRET"
SECRET_ENV_VALUE = "env-secret-6f1d2c"
FAST_LIMITS = SandboxLimits(timeout_s=5.0, max_output_chars=1000, memory_mb=512, processes=16)


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    os.environ[SECRET_ENV_NAME] = SECRET_ENV_VALUE
    with SandboxPool(SandboxConfig(workers=2, limits=FAST_LIMITS)) as sandbox_pool:
        yield sandbox_pool


@pytest.fixture(scope="session")
def unsafe_pool() -> Iterator[SandboxPool]:
    os.environ[SECRET_ENV_NAME] = SECRET_ENV_VALUE
    config = SandboxConfig(workers=2, limits=FAST_LIMITS, unsafe_no_isolation=True, warm_up=False)
    with SandboxPool(config) as sandbox_pool:
        yield sandbox_pool


def assert_healthy(pool: SandboxPool) -> None:
    """After an attack: the pool still gives correct answers, one-off and with session state."""
    assert pool.execute("print(sum(range(10)))").output == "45\n"
    with pool.session() as session:
        assert session.execute("import sympy as sp\nx = sp.Symbol('x')").ok
        assert session.execute("sp.solve(x**2 - 4, x)").output == "[-2, 2]\n"
