"""What a session process runs once it is jailed: notebook cells, one after another, in one namespace.

Runs inside the sandbox (standard library only; see ``isolation.py`` for how it gets there). ``serve_session``
reads commands from the zygote: ``run`` executes one cell (a trailing expression is echoed, output is bounded,
errors become short tracebacks of the solution's own frames), ``reset`` empties the namespace and restores the
interpreter state a solution may have changed, so the process can serve the next solution.
"""

from __future__ import annotations

import ast
import builtins
import decimal
import gc
import io
import linecache
import os
import random
import resource
import signal
import sys
import threading
import traceback
import warnings

from .framing import read_frame, write_frame

# Fixed fds in a session process: the command pipe, the result pipe and a private copy of the output file.
CMD_FD, RESULT_FD, OUTPUT_FD = 3, 4, 5


class BoundedOutput(io.TextIOBase):
    """sys.stdout/sys.stderr of a session: writes straight to the output file, drops what is over the limit.

    Unbuffered, so output printed before a timeout or crash is still there for the zygote to read; once the
    limit is reached it only counts, so a print loop cannot fill memory or the file-size limit.
    """

    def __init__(self, *, limit: int, counter: list[int]) -> None:
        self._limit = limit
        self._counter = counter  # shared by stdout and stderr: one interleaved stream, like a notebook

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1

    def write(self, text: str) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self._limit - self._counter[0]
        if room > 0:
            data = memoryview(text[:room].encode("utf-8", "replace"))
            while data:
                data = data[os.write(1, data) :]
        self._counter[0] += len(text)
        return len(text)


def _format_exception(exc: BaseException, *, max_frames: int = 6, max_message: int = 800) -> str:
    """A Python-style traceback with only the frames of the solution's own code."""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc))[-max_message * 2 :]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    if len(frames) > max_frames:
        hidden = len(frames) - max_frames
        lines += traceback.format_list(frames[: max_frames // 2])
        lines.append(f"  [... {hidden} more frames ...]\n")
        frames = frames[-(max_frames // 2) :]
    lines += traceback.format_list(frames)
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if len(message) > max_message:
        message = message[:max_message] + " ..."
    return "".join(lines) + message + "\n"


def run_cell(code: str, cell: str, namespace: dict) -> dict:
    """Execute one block like a notebook cell: the value of a trailing expression is printed (repr)."""
    linecache.cache[cell] = (len(code), None, code.splitlines(True), cell)
    try:
        tree = ast.parse(code, cell)
        trailing = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            trailing = ast.Expression(tree.body.pop().value)
        exec(compile(tree, cell, "exec"), namespace)
        if trailing is not None:
            value = eval(compile(trailing, cell, "eval"), namespace)
            if value is not None:
                print(repr(value))
        return {"error": "", "kind": None}
    except SystemExit as exc:
        if exc.code in (None, 0):
            return {"error": "", "kind": None}
        return {"error": f"SystemExit: {exc.code!r}"[:400] + "\n", "kind": "exception"}
    except MemoryError:
        return {"error": "MemoryError: the memory limit of the sandbox was exceeded\n", "kind": "memory"}
    except BaseException as exc:  # noqa: BLE001 - model code may raise anything, KeyboardInterrupt included
        try:
            return {"error": _format_exception(exc), "kind": "exception"}
        except MemoryError:
            return {"error": "MemoryError: the memory limit of the sandbox was exceeded\n", "kind": "memory"}
        finally:
            exc.__traceback__ = None  # frames would keep the block's temporaries alive


class _InterpreterBaseline:
    """Global interpreter state as it was before any model code, restored between solutions.

    Covers what math code commonly changes (decimal and mpmath precision, int-to-str digit limit, recursion
    limit, numpy print options and error handling, warnings, signals, modules, builtins, environment).
    """

    def __init__(self, *, home: str) -> None:
        self.home = home  # the working directory a solution starts in
        self.builtins = dict(builtins.__dict__)
        self.modules = set(sys.modules)
        self.path = list(sys.path)
        self.recursion_limit = sys.getrecursionlimit()
        self.int_digits = sys.get_int_max_str_digits()
        self.environ = dict(os.environ)
        self.decimal_context = decimal.getcontext().copy()
        self.warning_filters = list(warnings.filters)
        self.signals = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGALRM, signal.SIGTERM)}
        self.hooks = (sys.displayhook, sys.excepthook)
        numpy = sys.modules.get("numpy")
        self.numpy = (numpy.get_printoptions(), numpy.geterr()) if numpy else None
        mpmath = sys.modules.get("mpmath")
        self.mpmath_prec = mpmath.mp.prec if mpmath else None

    def restore(self) -> None:
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(timer, 0)
        for number, handler in self.signals.items():
            signal.signal(number, handler)
        for name in set(builtins.__dict__) - set(self.builtins):
            del builtins.__dict__[name]
        builtins.__dict__.update(self.builtins)
        for name in set(sys.modules) - self.modules:
            del sys.modules[name]
        sys.path[:] = self.path
        sys.setrecursionlimit(self.recursion_limit)
        sys.set_int_max_str_digits(self.int_digits)
        sys.displayhook, sys.excepthook = self.hooks
        os.environ.clear()
        os.environ.update(self.environ)
        decimal.setcontext(self.decimal_context.copy())
        warnings.filters[:] = self.warning_filters
        random.seed()
        if self.numpy is not None:
            numpy = sys.modules["numpy"]
            numpy.set_printoptions(**self.numpy[0])
            numpy.seterr(**self.numpy[1])
            numpy.random.seed()
        if self.mpmath_prec is not None:
            mpmath = sys.modules["mpmath"]
            mpmath.mp.prec = self.mpmath_prec
            mpmath.mp.pretty = False
        linecache.clearcache()
        os.closerange(OUTPUT_FD + 1, 1 << 16)  # files the solution left open
        os.chdir(self.home)
        os.umask(0o022)
        gc.collect()


def _process_stats() -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    output = os.fstat(OUTPUT_FD)  # a block may have closed or replaced it
    return {
        "output_file": [output.st_dev, output.st_ino],
        "threads": max(threading.active_count(), len(os.listdir("/proc/self/task"))),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss >> 10,
    }


def serve_session(*, session_pid: int, home: str) -> None:
    """Serve cells on fd 3, answer on fd 4; "reset" starts a new solution in the same process."""
    baseline = _InterpreterBaseline(home=home)
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    while True:
        try:
            request = read_frame(CMD_FD)
        except Exception:  # noqa: BLE001 - a broken channel ends the session
            request = None
        if request is None:
            os._exit(0)
        if request.get("op") == "reset":
            namespace.clear()
            namespace.update({"__name__": "__main__", "__builtins__": builtins})
            try:
                baseline.restore()
                result = _process_stats()
            except BaseException as exc:  # noqa: BLE001 - state we cannot restore: the zygote discards us
                result = {"error": repr(exc)[:200]}
        else:
            # Undo whatever the previous block did to the output channels.
            os.dup2(OUTPUT_FD, 1)
            os.dup2(OUTPUT_FD, 2)
            counter = [0]
            sys.stdout = BoundedOutput(limit=request["max_output"] + 1, counter=counter)
            sys.stderr = BoundedOutput(limit=request["max_output"] + 1, counter=counter)
            sys.stdin = io.StringIO()
            result = run_cell(request["code"], request["cell"], namespace)
            result["chars"] = counter[0]
        if os.getpid() != session_pid:
            # A process the block forked came back through our frames: it must not answer or read commands.
            os._exit(0)
        try:
            write_frame(RESULT_FD, result)
        except Exception:  # noqa: BLE001
            os._exit(1)
