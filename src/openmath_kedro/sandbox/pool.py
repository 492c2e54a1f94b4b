"""The host side: a thread-safe pool of sandbox workers, and sessions (one per solution)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from .config import SandboxConfig
from .framing import FrameReader, write_frame
from .isolation import SandboxUnavailableError, allocate_uid_base, worker_command
from .result import ExecutionResult, build_output

_STARTUP_SECONDS = 120.0  # importing sympy on a loaded 2-core machine, several workers at once
_GRACE_SECONDS = 10.0  # on top of the block timeouts, before the host gives up on a worker


class _Worker:
    """One bubblewrap sandbox with its zygote. Every method except ``enqueue_close`` needs ``lock``."""

    def __init__(self, *, index: int, config: SandboxConfig) -> None:
        self.index = index
        self.config = config
        self.uid_base = allocate_uid_base()
        self.lock = threading.Lock()
        self.resident: set[int] = set()  # sessions whose process lives in this worker
        self.blocks = 0
        self._pending_closes: list[int] = []
        self._pending_lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._reader: FrameReader | None = None
        self._stderr = None
        self._scratch_dir: str | None = None
        self._request_ids = itertools.count()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        command = worker_command(self.config, uid_base=self.uid_base)
        self._scratch_dir = command.scratch_dir
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                command.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                env=command.env, close_fds=True, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise SandboxUnavailableError(f"cannot start a sandbox worker: {exc}") from exc
        assert self._process.stdout is not None
        self._reader = FrameReader(self._process.stdout.fileno())
        self.blocks = 0
        self.resident.clear()

    def wait_ready(self) -> dict:
        assert self._reader is not None
        answer = self._reader.read(time.monotonic() + _STARTUP_SECONDS)
        if not isinstance(answer, dict) or not answer.get("ready"):
            detail = self._stderr_tail()
            self.stop()
            raise SandboxUnavailableError(f"a sandbox worker failed to start ({answer}): {detail}")
        return answer

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-3000:].decode("utf-8", "replace").strip()

    def stop(self) -> None:
        process, self._process = self._process, None
        self.resident.clear()
        if process is not None:
            try:
                assert process.stdin is not None
                write_frame(process.stdin.fileno(), {"op": "exit"})
                process.stdin.close()
                process.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            if process.poll() is None:
                # bwrap leads its own process group; --die-with-parent takes the sandbox down with it.
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._scratch_dir:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()

    def enqueue_close(self, session_id: int) -> None:
        with self._pending_lock:
            self._pending_closes.append(session_id)

    def flush_closes(self) -> None:
        with self._pending_lock:
            pending, self._pending_closes = self._pending_closes, []
        for session_id in pending:
            if session_id in self.resident and self._process is not None:
                self.resident.discard(session_id)
                try:
                    assert self._process.stdin is not None
                    write_frame(self._process.stdin.fileno(), {"op": "close", "session": session_id})
                except OSError:
                    pass  # a dead worker is noticed, and replaced, by the next request

    def request(self, message: dict, *, deadline: float) -> dict | None:
        """Send one exec request; None if the worker died or hung (it is then replaced)."""
        if (
            self._process is None
            or self._process.poll() is not None
            or self.blocks >= self.config.max_blocks_per_worker
        ):
            self.restart()
        assert self._process is not None and self._process.stdin is not None and self._reader is not None
        message = {**message, "id": next(self._request_ids)}
        try:
            write_frame(self._process.stdin.fileno(), message)
            answer = self._reader.read(deadline)
        except OSError:
            answer = "eof"
        self.blocks += 1
        if not isinstance(answer, dict) or answer.get("id") != message["id"]:
            self.stop()
            return None
        return answer


class Session:
    """One solution: each block sees the variables (and /tmp files) of the earlier ones.

    Use it as a context manager, or call ``close()``; a session that is never closed is cleaned up when the
    pool needs its slot.
    """

    def __init__(self, *, pool: SandboxPool, session_id: int) -> None:
        self.id = session_id
        self.history: list[str] = []  # blocks that ran to the end, replayed if the worker loses the session
        self.worker: _Worker | None = None
        self.closed = False
        self._pool = pool
        self.lock = threading.Lock()  # blocks of one session run one after another

    @property
    def pool(self) -> SandboxPool:
        return self._pool

    def execute(
        self, code: str, *, timeout: float | None = None, max_output: int | None = None
    ) -> ExecutionResult:
        return self._pool.execute(code, session=self, timeout=timeout, max_output=max_output)

    async def execute_async(
        self, code: str, *, timeout: float | None = None, max_output: int | None = None
    ) -> ExecutionResult:
        return await self._pool.execute_async(code, session=self, timeout=timeout, max_output=max_output)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            worker, self.worker = self.worker, None
        if worker is not None:
            worker.enqueue_close(self.id)
            if worker.lock.acquire(blocking=False):
                try:
                    worker.flush_closes()
                finally:
                    worker.lock.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session(id={self.id}, blocks={len(self.history)}, closed={self.closed})"


class SandboxPool:
    """Pre-forked, isolated Python workers. Safe to share between threads and asyncio tasks.

    >>> with SandboxPool() as pool, pool.session() as solution:
    ...     solution.execute("x = 2").ok, solution.execute("x ** 10").output
    (True, '1024\\n')
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._workers = [_Worker(index=i, config=self.config) for i in range(self.config.workers)]
        self._session_ids = itertools.count(1)
        self._round_robin = itertools.count()
        self._executor: ThreadPoolExecutor | None = None
        self._state_lock = threading.Lock()
        self._closed = False
        try:
            for worker in self._workers:  # start them all, then wait: the imports run in parallel
                worker.start()
            self.missing_modules = sorted(set().union(*(w.wait_ready()["missing"] for w in self._workers)))
        except BaseException:
            for worker in self._workers:
                worker.stop()
            raise

    # --- sessions and execution

    def session(self) -> Session:
        """A new solution session."""
        self._check_open()
        return Session(pool=self, session_id=next(self._session_ids))

    def execute(
        self,
        code: str,
        *,
        session: Session | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> ExecutionResult:
        """Run one block; with ``session`` it sees the state of that session's earlier blocks."""
        self._check_open()
        if session is not None and (session.pool is not self or session.closed):
            raise ValueError(f"{session!r} is closed or belongs to another pool")
        limits = self.config.limits
        timeout = limits.timeout_s if timeout is None else float(timeout)
        max_output = limits.max_output_chars if max_output is None else int(max_output)
        if timeout <= 0 or max_output < 0:
            raise ValueError("timeout must be positive and max_output non-negative")
        with session.lock if session is not None else nullcontext():
            worker = self._acquire_worker(session)
            try:
                return self._run(worker, code, session=session, timeout=timeout, max_output=max_output)
            finally:
                worker.lock.release()

    def execute_many(
        self,
        codes: Sequence[str],
        *,
        sessions: Sequence[Session | None] | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> list[ExecutionResult]:
        """Run many blocks in parallel; results in input order. A session may appear at most once."""
        sessions = list(sessions) if sessions is not None else [None] * len(codes)
        if len(sessions) != len(codes):
            raise ValueError("codes and sessions must have the same length")
        named = [s.id for s in sessions if s is not None]
        if len(named) != len(set(named)):
            raise ValueError("a session may appear only once in a batch (its blocks must run in order)")
        executor = self._batch_executor()
        futures = [
            executor.submit(self.execute, code, session=session, timeout=timeout, max_output=max_output)
            for code, session in zip(codes, sessions, strict=True)
        ]
        return [future.result() for future in futures]

    async def execute_async(
        self,
        code: str,
        *,
        session: Session | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> ExecutionResult:
        """``execute`` for asyncio: runs in the pool's threads, never blocks the event loop."""
        call = functools.partial(self.execute, code, session=session, timeout=timeout, max_output=max_output)
        return await asyncio.get_running_loop().run_in_executor(self._batch_executor(), call)

    # --- lifecycle

    def close(self) -> None:
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for worker in self._workers:
            with worker.lock:
                worker.stop()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def worker_pids(self) -> list[int]:
        """Host pids of the bwrap processes (for monitoring and tests)."""
        return [pid for w in self._workers if (pid := w.pid) is not None]

    # --- internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the sandbox pool is closed")

    def _batch_executor(self) -> ThreadPoolExecutor:
        with self._state_lock:
            self._check_open()
            if self._executor is None:
                # More threads than workers: a session waiting for its own busy worker must not stop others.
                self._executor = ThreadPoolExecutor(
                    max_workers=4 * len(self._workers), thread_name_prefix="sandbox"
                )
            return self._executor

    def _acquire_worker(self, session: Session | None) -> _Worker:
        home = session.worker if session is not None else None
        if home is not None and session is not None and session.id in home.resident:
            home.lock.acquire()  # its state lives there: waiting is cheaper than replaying
            return home
        for worker in self._workers:
            if worker.lock.acquire(blocking=False):
                return worker
        worker = self._workers[next(self._round_robin) % len(self._workers)]
        worker.lock.acquire()
        return worker

    def _run(
        self, worker: _Worker, code: str, *, session: Session | None, timeout: float, max_output: int
    ) -> ExecutionResult:
        worker.flush_closes()
        replay: list[str] = []
        if session is not None and session.id not in worker.resident:
            if session.worker is not None and session.worker is not worker:
                session.worker.enqueue_close(session.id)
            replay = list(session.history)
        cell = f"<cell {len(session.history) + 1 if session is not None else 1}>"
        message = {
            "op": "exec", "session": session.id if session is not None else None, "code": code, "cell": cell,
            "timeout": timeout, "max_output": max_output, "replay": replay,
        }  # fmt: skip
        deadline = time.monotonic() + timeout * (1 + len(replay)) + _GRACE_SECONDS
        try:
            answer = worker.request(message, deadline=deadline)
        except SandboxUnavailableError as exc:
            answer, failure = None, str(exc)
        else:
            failure = "the sandbox worker failed while running this code; it has been replaced"
        if answer is None:
            if session is not None:
                session.worker = None
            error = f"SandboxError: {failure}\n"
            return ExecutionResult(output=error, error=error, error_kind="sandbox")
        worker.resident.difference_update(answer.get("evicted", []))
        if session is not None:
            if answer["alive"]:
                worker.resident.add(session.id)
                session.worker = worker
                session.history.append(code)
            else:  # timeout or crash: the next block starts from a replay of the blocks before this one
                worker.resident.discard(session.id)
                session.worker = None
        text, truncated = build_output(
            printed=answer["output"],
            printed_chars=int(answer["chars"]),
            error=answer["error"],
            max_output=max_output,
        )
        return ExecutionResult(
            output=text,
            error=answer["error"],
            error_kind=answer["kind"],
            timed_out=bool(answer["timed_out"]),
            truncated=truncated,
            seconds=float(answer["seconds"]),
        )
