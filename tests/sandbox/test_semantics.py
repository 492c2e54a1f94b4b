"""What a block returns: notebook semantics, errors, truncation, sessions, batch and asyncio use."""

from __future__ import annotations

import asyncio
import threading

import pytest

from openmath_kedro.sandbox import (
    ExecutionResult,
    SandboxConfig,
    SandboxLimits,
    SandboxPool,
    SandboxUnavailableError,
    isolation,
)

from .conftest import FAST_LIMITS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_stdout_and_trailing_expression(pool: SandboxPool) -> None:
    result = pool.execute("print('a')\n2 ** 10")
    assert result == ExecutionResult(output="a\n1024\n", seconds=result.seconds)
    assert result.ok and not result.truncated and not result.timed_out
    assert pool.execute("x = 3\nNone").output == ""  # None is not echoed, like a notebook
    assert pool.execute("import sympy\nsympy.Rational(1, 3) + 1").output == "4/3\n"


def test_session_keeps_state_between_blocks(pool: SandboxPool) -> None:
    with pool.session() as solution:
        solution.execute("from sympy import *\nx = symbols('x')\nroots = solve(x**2 - 5*x + 6, x)")
        solution.execute("def double(v):\n    return 2 * v")
        assert solution.execute("print([double(r) for r in roots])").output == "[4, 6]\n"
        assert solution.execute("open('/tmp/notes.txt', 'w').write('kept')").ok
        assert solution.execute("open('/tmp/notes.txt').read()").output == "'kept'\n"


def test_blocks_of_different_solutions_do_not_share_state(pool: SandboxPool) -> None:
    with pool.session() as first, pool.session() as second:
        first.execute("secret = 42")
        result = second.execute("secret")
    assert result.error_kind == "exception"
    assert result.output.endswith("NameError: name 'secret' is not defined\n")
    for _ in range(6):  # one-off blocks run in reused processes: nothing of the solution before survives
        assert "NameError" in pool.execute("secret").output


def test_interpreter_state_is_reset_between_solutions() -> None:
    config = SandboxConfig(workers=1, limits=FAST_LIMITS)
    with SandboxPool(config) as single:
        single.execute(
            "import sys, decimal, mpmath, numpy, os\nsys.set_int_max_str_digits(100000)\n"
            "decimal.getcontext().prec = 5\nmpmath.mp.dps = 50\nnumpy.set_printoptions(precision=2)\n"
            "os.environ['LEAK'] = '1'\nimport builtins\nbuiltins.leak = 1\nsys.modules['fake_mod'] = sys"
        )
        after = single.execute(
            "import sys, decimal, mpmath, numpy, os, builtins\n"
            "print(sys.get_int_max_str_digits(), decimal.getcontext().prec, mpmath.mp.dps,\n"
            "      numpy.get_printoptions()['precision'], 'LEAK' in os.environ, hasattr(builtins, 'leak'),\n"
            "      'fake_mod' in sys.modules)"
        )
    assert after.output == "4300 28 15 8 False False False\n"


def test_error_messages_are_short_python_tracebacks(pool: SandboxPool) -> None:
    result = pool.execute("from fractions import Fraction\ndef f(n):\n    return Fraction(n, 0)\nf(2)")
    assert result.error_kind == "exception"
    assert result.output == result.error
    assert result.error.startswith("Traceback (most recent call last):\n")
    assert 'File "<cell 1>", line 4, in <module>' in result.error
    assert 'File "<cell 1>", line 3, in f' in result.error
    assert "fractions.py" not in result.error  # library frames are not what the model needs
    assert result.error.rstrip().splitlines()[-1].startswith("ZeroDivisionError")

    syntax = pool.execute("x = (1,\nprint(x)")
    assert syntax.error_kind == "exception" and "SyntaxError" in syntax.output
    assert "Traceback" not in syntax.output

    deep = pool.execute("def r(n):\n    return r(n + 1)\nr(0)")
    assert "RecursionError" in deep.output and "more frames" in deep.output and len(deep.output) < 1500


def test_output_before_an_error_is_kept(pool: SandboxPool) -> None:
    result = pool.execute("print('partial')\nraise ValueError('bad input')")
    assert result.output.startswith("partial\nTraceback")
    assert result.output.endswith("ValueError: bad input\n")


def test_output_is_truncated_with_a_marker(pool: SandboxPool) -> None:
    result = pool.execute("print('y' * 5000)", max_output=100)
    assert result.truncated
    assert result.output.startswith("y" * 100 + "\n[... output truncated: 4901 more characters")
    assert len(result.output) < 200
    assert pool.execute("print('z' * 100)", max_output=101).truncated is False


def test_timeout_reports_and_keeps_earlier_state(pool: SandboxPool) -> None:
    with pool.session() as solution:
        solution.execute("base = 7")
        slow = solution.execute("print('started')\nwhile True:\n    pass", timeout=0.5)
        assert slow.timed_out and slow.error_kind == "timeout"
        assert slow.output.startswith("started\n")
        assert "TimeoutError: the code did not finish within 0.5 seconds" in slow.output
        assert 0.5 <= slow.seconds < 2
        # The process was killed; the earlier blocks are replayed so the solution can go on.
        assert solution.execute("base * 6").output == "42\n"


def test_sys_exit_is_an_error_only_when_nonzero(pool: SandboxPool) -> None:
    assert pool.execute("print('bye')\nimport sys\nsys.exit(0)").output == "bye\n"
    failed = pool.execute("exit(3)")
    assert failed.error_kind == "exception" and "SystemExit: 3" in failed.output


def test_batch_runs_independent_blocks_in_order(pool: SandboxPool) -> None:
    results = pool.execute_many([f"print({i} * {i})" for i in range(12)])
    assert [r.output for r in results] == [f"{i * i}\n" for i in range(12)]


def test_batch_with_sessions(pool: SandboxPool) -> None:
    sessions = [pool.session() for _ in range(5)]
    pool.execute_many([f"n = {i}" for i in range(5)], sessions=sessions)
    results = pool.execute_many(["n * 10"] * 5, sessions=sessions)
    assert [r.output for r in results] == [f"{i * 10}\n" for i in range(5)]
    with pytest.raises(ValueError, match="only once"):
        pool.execute_many(["1", "2"], sessions=[sessions[0], sessions[0]])
    for session in sessions:
        session.close()


def test_many_threads_share_one_pool(pool: SandboxPool) -> None:
    failures: list[str] = []

    def solve(k: int) -> None:
        with pool.session() as solution:
            for step in range(3):
                solution.execute(f"acc = {k} if {step} == 0 else acc + 1")
            output = solution.execute("acc").output
            if output != f"{k + 2}\n":
                failures.append(output)

    threads = [threading.Thread(target=solve, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_asyncio(pool: SandboxPool) -> None:
    async def main() -> list[str]:
        session = pool.session()
        await session.execute_async("v = 5")
        results = await asyncio.gather(
            *(pool.execute_async(f"{i} + 1") for i in range(6)), session.execute_async("v")
        )
        session.close()
        return [r.output for r in results]

    assert asyncio.run(main()) == [f"{i + 1}\n" for i in range(6)] + ["5\n"]


def test_evicted_sessions_are_rebuilt_by_replay() -> None:
    config = SandboxConfig(workers=1, sessions_per_worker=2, limits=FAST_LIMITS)
    with SandboxPool(config) as small:
        sessions = [small.session() for _ in range(4)]
        for i, session in enumerate(sessions):
            session.execute(f"value = {i}")
        # Only two fit in the worker: the others were evicted and come back with their state.
        assert [s.execute("value").output for s in sessions] == ["0\n", "1\n", "2\n", "3\n"]


def test_fresh_process_per_solution_mode() -> None:
    config = SandboxConfig(workers=1, max_solutions_per_process=1, limits=FAST_LIMITS)
    with SandboxPool(config) as strict:
        pids = {strict.execute("import os\nos.getpid()").output for _ in range(3)}
    assert len(pids) == 3


def test_closed_pool_and_foreign_sessions_are_refused(pool: SandboxPool) -> None:
    closed = SandboxPool(SandboxConfig(workers=1, limits=FAST_LIMITS, warm_up=False))
    foreign = closed.session()
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        closed.execute("1")
    with pytest.raises(ValueError):
        pool.execute("1", session=foreign)


def test_missing_bubblewrap_is_refused_with_install_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    monkeypatch.setattr(isolation.os, "access", lambda path, mode: False)
    with pytest.raises(SandboxUnavailableError) as error:
        SandboxPool(SandboxConfig(workers=1))
    message = str(error.value)
    assert "apt-get install -y bubblewrap" in message
    assert "unsafe_no_isolation=True" in message and "WITHOUT any isolation" in message


def test_invalid_settings_are_rejected_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"workers\n.*greater than or equal to 1"):
        SandboxConfig(workers=0)
    with pytest.raises(ValueError, match=r"sessions_per_worker\n.*less than or equal to 900"):
        SandboxConfig(sessions_per_worker=901)
    with pytest.raises(ValueError, match=r"timeout_s\n.*greater than 0"):
        SandboxConfig(limits=SandboxLimits(timeout_s=0))
    with pytest.raises(ValueError, match=r"tmp_size_mb\n"):  # tmpfs reads a size of 0 as unlimited
        SandboxLimits(tmp_size_mb=0)
    with pytest.raises(ValueError, match=r"timeout\n.*Extra inputs are not permitted"):
        SandboxLimits(timeout=5)  # type: ignore[call-arg]
