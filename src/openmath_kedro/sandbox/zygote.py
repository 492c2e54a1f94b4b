"""The program that runs inside one sandbox worker: the "zygote" and its session processes.

It is standard library only, because the host starts it as ``python -I -S -c <this file's text> <config>``
inside bubblewrap, where the project directory (and so this package) is not visible. The host imports it only
for the frame helpers.

Process tree inside one worker's sandbox (its own pid namespace)::

    bwrap (pid 1) -> zygote (numpy/sympy imported, never runs model code)
                       -> session process per solution (fork of the zygote, one private /tmp, own uid,
                          rlimits, no capabilities); later blocks of the solution see earlier variables

The zygote reads requests from the host on stdin and answers on stdout, one length-prefixed JSON frame each.
It enforces the wall-clock timeout itself (it kills the session process), so a runaway block costs a fork,
not an interpreter start.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import fcntl
import gc
import io
import json
import linecache
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback

_HEADER = struct.Struct("!I")
MAX_FRAME_BYTES = 64 << 20
# A session process may answer with at most this much; anything larger is treated as a crash.
_MAX_RESULT_BYTES = 1 << 20

# Linux constants not exposed by the os module of Python 3.11.
_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 24, 38
_CAP_LAST = 63
# Capabilities the zygote keeps (bwrap --cap-add): switch uids, signal and mount for its session processes.
_CAP_SETGID, _CAP_SETUID, _CAP_SETPCAP, _CAP_KILL, _CAP_SYS_ADMIN = 6, 7, 8, 5, 21
ZYGOTE_CAPABILITIES = ("CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_KILL", "CAP_SYS_ADMIN")
_KEEP_CAPS = {_CAP_SETGID, _CAP_SETUID, _CAP_SETPCAP, _CAP_KILL, _CAP_SYS_ADMIN}

# Fixed fds in a session process: the command pipe, the result pipe and a private copy of the output file.
_CMD_FD, _RESULT_FD, _OUTPUT_FD = 3, 4, 5


# --------------------------------------------------------------------------------------------- framing


def write_frame(fd: int, message: dict) -> None:
    """Write one length-prefixed JSON frame (blocking, complete)."""
    body = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict | None:
    """Read one frame (blocking); None at end of stream."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {size} bytes is too large")
    body = _read_exactly(fd, size)
    return None if body is None else json.loads(body.decode("utf-8", "surrogatepass"))


class FrameReader:
    """Reads frames from a non-blocking fd with a deadline (the host and the zygote both use it)."""

    def __init__(self, fd: int, *, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        os.set_blocking(fd, False)

    def read(self, deadline: float) -> dict | str:
        """Return the next frame, or "timeout", "eof" or "oversized"."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if size > self.max_bytes:
                    return "oversized"
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[_HEADER.size : end])
                    del self._buffer[:end]
                    try:
                        return json.loads(body.decode("utf-8", "surrogatepass"))
                    except ValueError:
                        return "oversized"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            wait = None if remaining == float("inf") else remaining
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                return "eof"
            self._buffer += chunk


# ------------------------------------------------------------------------ inside a session process


class _BoundedOutput(io.TextIOBase):
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


def _run_cell(code: str, cell: str, namespace: dict) -> dict:
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


def _session_main(session_pid: int) -> None:
    """Serve blocks of one solution: read code on fd 3, run it, answer on fd 4. Never returns."""
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    while True:
        try:
            request = read_frame(_CMD_FD)
        except Exception:  # noqa: BLE001 - a broken channel ends the session
            request = None
        if request is None:
            os._exit(0)
        # Undo whatever the previous block did to the output channels.
        os.dup2(_OUTPUT_FD, 1)
        os.dup2(_OUTPUT_FD, 2)
        counter = [0]
        sys.stdout = _BoundedOutput(limit=request["max_output"] + 1, counter=counter)
        sys.stderr = _BoundedOutput(limit=request["max_output"] + 1, counter=counter)
        sys.stdin = io.StringIO()
        result = _run_cell(request["code"], request["cell"], namespace)
        if os.getpid() != session_pid:
            # A process the block forked came back through our frames: it must not answer or read commands.
            os._exit(0)
        result["chars"] = counter[0]
        try:
            write_frame(_RESULT_FD, result)
        except Exception:  # noqa: BLE001
            os._exit(1)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enter_session_jail(*, uid: int, tmp_mb: int) -> None:
    """In a fresh session process, while still root: private /tmp and /dev/shm, then drop to ``uid``."""
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Private propagation, so the session's mounts never show up in the zygote or in other sessions.
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    options = f"size={tmp_mb}m,mode=1777".encode()
    for target in (b"/tmp", b"/dev/shm"):
        if os.path.isdir(target):
            _check(libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, options), "mount tmpfs")
    for cap in range(_CAP_LAST + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: ignored
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears every capability: the session is an ordinary user


def _apply_limits(limits: dict, *, address_space_bytes: int) -> None:
    def set_limit(kind: int, value: int) -> None:
        resource.setrlimit(kind, (value, value))

    set_limit(resource.RLIMIT_AS, address_space_bytes)
    set_limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]))
    set_limit(resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) << 20)
    set_limit(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    set_limit(resource.RLIMIT_NPROC, int(limits["processes"]))
    set_limit(resource.RLIMIT_CORE, 0)


def _move_fd(fd: int, target: int) -> None:
    if fd != target:
        os.dup2(fd, target)


def _start_session_process(*, cmd_r: int, result_w: int, output_fd: int, zygote: Zygote, uid: int) -> None:
    """Runs in the forked child: set up fds, isolation and limits, then serve blocks. Never returns."""
    try:
        os.setsid()
        # Park the fds high before placing them, so no dup2 clobbers another one of them.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (cmd_r, result_w, output_fd)]
        devnull = os.open("/dev/null", os.O_RDONLY)
        _move_fd(devnull, 0)
        for fd, target in zip(high, (_CMD_FD, _RESULT_FD, _OUTPUT_FD), strict=True):
            _move_fd(fd, target)
        _move_fd(_OUTPUT_FD, 1)
        _move_fd(_OUTPUT_FD, 2)
        os.closerange(_OUTPUT_FD + 1, 1 << 16)  # the host pipes and every other session's pipes
        limits = zygote.limits
        if zygote.isolated:
            _enter_session_jail(uid=uid, tmp_mb=int(limits["tmp_size_mb"]))
            os.chdir("/tmp")
        else:
            os.chdir(zygote.unsafe_workdir(uid))
        libc = _libc()
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
        if os.getppid() != zygote.pid:
            os._exit(0)
        _apply_limits(limits, address_space_bytes=zygote.address_space_bytes)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death on a too-large file
        os.umask(0o022)
        gc.enable()
        _session_main(os.getpid())
    except BaseException:  # noqa: BLE001 - never fall back into the zygote's loop
        try:
            traceback.print_exc()
        finally:
            os._exit(70)
    os._exit(0)


# ------------------------------------------------------------------------------------------- zygote


class SessionProcess:
    """The zygote's handle on one session process."""

    def __init__(self, *, pid: int, uid: int, cmd_w: int, result_r: int, output_fd: int) -> None:
        self.pid = pid
        self.uid = uid
        self.cmd_w = cmd_w
        self.results = FrameReader(result_r, max_bytes=_MAX_RESULT_BYTES)
        self.output_fd = output_fd
        self.session: int | None = None
        self.blocks = 0
        self.stopped = False
        self.last_used = time.monotonic()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Zygote:
    """Owns the session processes of one worker and runs blocks in them on the host's request."""

    def __init__(self, config: dict) -> None:
        self.isolated: bool = config["isolated"]
        self.limits: dict = config["limits"]
        self.uid_base: int = config["uid_base"]
        self.slots: int = config["sessions"]
        self.pid = os.getpid()
        self.sessions: dict[int, SessionProcess] = {}
        self.spare: SessionProcess | None = None
        self.free_uids = [self.uid_base + slot for slot in range(self.slots + 1)]  # +1: the spare
        self.address_space_bytes = 0
        self._unsafe_root = config.get("unsafe_workdir", "")

    # --- start-up

    def preload(self, modules: list[str], *, warm_up: bool) -> list[str]:
        missing = []
        for name in modules:
            try:
                __import__(name)
            except ImportError:
                missing.append(name)
        if warm_up and "sympy" in sys.modules:
            # First calls fill sympy's caches; doing it here means every session inherits them.
            import sympy

            x = sympy.Symbol("x")
            sympy.solve(x**2 - 5 * x + 6, x)
            sympy.simplify(sympy.sin(x) ** 2 + sympy.cos(x) ** 2)
            sympy.factorint(360)
            sympy.Rational(3, 4) + sympy.sqrt(8)
            sympy.sympify("2*x + 1").subs(x, 3)
        if warm_up and "numpy" in sys.modules:
            import numpy

            numpy.linalg.solve(numpy.eye(3), numpy.ones(3))
        return missing

    def seal(self) -> None:
        """After imports: drop unneeded capabilities and fix the address-space limit of sessions."""
        if self.isolated:
            libc = _libc()
            for cap in range(_CAP_LAST + 1):
                if cap not in _KEEP_CAPS:
                    libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
        gc.collect()
        gc.freeze()  # fewer copy-on-write page faults in the forked sessions
        gc.disable()
        with open("/proc/self/status") as status:
            vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        self.address_space_bytes = (vm_kb << 10) + (int(self.limits["memory_mb"]) << 20)

    def unsafe_workdir(self, uid: int) -> str:
        path = os.path.join(self._unsafe_root, str(uid))
        os.makedirs(path, exist_ok=True)
        return path

    # --- session processes

    def _fork_session(self) -> SessionProcess | None:
        if not self.free_uids:
            return None
        uid = self.free_uids.pop()
        cmd_r, cmd_w = os.pipe()
        result_r, result_w = os.pipe()
        output_fd = os.memfd_create("block-output", 0)
        # O_APPEND: the zygote truncates the file before each block and the session writes from 0 again.
        fcntl.fcntl(output_fd, fcntl.F_SETFL, fcntl.fcntl(output_fd, fcntl.F_GETFL) | os.O_APPEND)
        pid = os.fork()
        if pid == 0:
            _start_session_process(cmd_r=cmd_r, result_w=result_w, output_fd=output_fd, zygote=self, uid=uid)
        os.close(cmd_r)
        os.close(result_w)
        return SessionProcess(pid=pid, uid=uid, cmd_w=cmd_w, result_r=result_r, output_fd=output_fd)

    def ensure_spare(self) -> None:
        if self.spare is None:
            self.spare = self._fork_session()

    def _take_process(self, evicted: list[int]) -> SessionProcess:
        process, self.spare = self.spare, None
        if process is None:
            process = self._fork_session()
        if process is None:  # every slot is taken: the least recently used session makes room
            oldest = min(self.sessions.values(), key=lambda p: p.last_used)
            evicted.append(oldest.session)
            self.destroy(oldest)
            process = self._fork_session()
        assert process is not None
        return process

    def _processes_of(self, uid: int) -> list[tuple[int, int]]:
        """(pid, threads) of every live process of a session uid, read from /proc (root sees all)."""
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status", "rb") as status:
                    fields = dict(line.split(b":", 1) for line in status.read().splitlines() if b":" in line)
            except OSError:
                continue
            if int(fields[b"Uid"].split()[0]) == uid and not fields[b"State"].strip().startswith(b"Z"):
                found.append((int(name), int(fields[b"Threads"])))
        return found

    def _kill_everything_of(self, process: SessionProcess) -> None:
        if not self.isolated:
            for target in (lambda: os.killpg(process.pid, signal.SIGKILL), lambda: os.kill(process.pid, 9)):
                try:
                    target()
                except ProcessLookupError:
                    pass
            return
        # Every process with the session's uid, whatever it did to its session or process group.
        for _ in range(100):
            victims = self._processes_of(process.uid)
            if not victims:
                return
            for pid, _threads in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._reap(process)
            time.sleep(0.001)

    def _reap(self, process: SessionProcess) -> int | None:
        try:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return status if pid else None

    def quiesce(self, process: SessionProcess) -> None:
        """Between blocks: kill processes the block left behind; freeze threads it left running."""
        if self.isolated:
            for pid, threads in self._processes_of(process.uid):
                try:
                    if pid != process.pid:
                        os.kill(pid, signal.SIGKILL)
                    elif threads > 1:
                        os.kill(pid, signal.SIGSTOP)
                        process.stopped = True
                except ProcessLookupError:
                    pass
            return
        try:
            with open(f"/proc/{process.pid}/status", "rb") as status:
                threads = next(int(line.split()[1]) for line in status if line.startswith(b"Threads:"))
        except (OSError, StopIteration):
            return
        if threads > 1:
            os.kill(process.pid, signal.SIGSTOP)
            process.stopped = True

    def destroy(self, process: SessionProcess) -> int | None:
        """Kill a session and everything it started; its private /tmp goes with its mount namespace."""
        self._kill_everything_of(process)
        status = None
        try:
            _, status = os.waitpid(process.pid, 0)
        except ChildProcessError:
            pass
        for fd in (process.cmd_w, process.results.fd, process.output_fd):
            os.close(fd)
        if process.session is not None:
            self.sessions.pop(process.session, None)
        if not self.isolated:
            import shutil

            shutil.rmtree(self.unsafe_workdir(process.uid), ignore_errors=True)
        self.free_uids.append(process.uid)
        return status

    def close_session(self, session: int) -> None:
        process = self.sessions.get(session)
        if process is not None:
            self.destroy(process)

    # --- running blocks

    def _read_output(self, process: SessionProcess, max_output: int) -> tuple[str, int]:
        size = os.fstat(process.output_fd).st_size
        data = os.pread(process.output_fd, min(size, 4 * max_output + 4), 0)
        text = data.decode("utf-8", "replace")
        return text, max(len(text), size if size > len(data) else 0)

    def _run_block(self, process: SessionProcess, code: str, *, cell: str, timeout: float, max_output: int) -> dict:
        """Run one block in a live session process; the result says whether the process survived."""
        os.ftruncate(process.output_fd, 0)
        if process.stopped:
            os.kill(process.pid, signal.SIGCONT)
            process.stopped = False
        started = time.monotonic()
        try:
            write_frame(process.cmd_w, {"code": code, "cell": cell, "max_output": max_output})
            answer = process.results.read(started + timeout)
        except OSError:
            answer = "eof"
        seconds = time.monotonic() - started
        output, chars = self._read_output(process, max_output)
        process.blocks += 1
        process.last_used = time.monotonic()
        if isinstance(answer, dict):
            self.quiesce(process)
            chars = max(chars, int(answer.get("chars", 0)))
            return {"output": output, "chars": chars, "error": str(answer.get("error", "")),
                    "kind": answer.get("kind"), "timed_out": False, "seconds": seconds, "alive": True}
        if answer == "timeout":
            self.destroy(process)
            error = f"TimeoutError: the code did not finish within {timeout:g} seconds\n"
            return {"output": output, "chars": chars, "error": error, "kind": "timeout",
                    "timed_out": True, "seconds": seconds, "alive": False}
        # The process died, closed its channel or sent garbage: find out how, then clean up.
        status = None
        for _ in range(50):
            status = self._reap(process)
            if status is not None:
                break
            time.sleep(0.002)
        final_status = self.destroy(process)
        status = status if status is not None else final_status
        kind, error = self._describe_death(status, answer)
        return {"output": output, "chars": chars, "error": error, "kind": kind,
                "timed_out": kind == "timeout", "seconds": seconds, "alive": False}

    def _describe_death(self, status: int | None, answer: str) -> tuple[str, str]:
        if status is not None and os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU:
                seconds = self.limits["cpu_seconds"]
                return "timeout", f"TimeoutError: the CPU time limit of {seconds} seconds was exceeded\n"
            return "crash", f"Crash: the Python process was killed by {_signal_name(number)}\n"
        if status is not None and os.WIFEXITED(status):
            return "crash", f"Crash: the Python process exited with code {os.WEXITSTATUS(status)}\n"
        if answer == "oversized":
            return "crash", "Crash: the sandbox received a malformed result\n"
        return "crash", "Crash: the code closed the sandbox's result channel\n"

    def execute(self, request: dict) -> dict:
        evicted: list[int] = []
        session = request.get("session")
        process = self.sessions.get(session) if session is not None else None
        timeout = float(request["timeout"])
        max_output = int(request["max_output"])
        if process is None:
            process = self._take_process(evicted)
            # A session the host knows but this worker lost (timeout, crash, eviction, restart): rebuild its
            # state by running its earlier blocks again, output discarded.
            for index, code in enumerate(request.get("replay", []), start=1):
                replayed = self._run_block(process, code, cell=f"<cell {index}>", timeout=timeout,
                                           max_output=max_output)
                if not replayed["alive"]:
                    process = self._take_process(evicted)
            if session is not None:
                process.session = session
                self.sessions[session] = process
        result = self._run_block(process, request["code"], cell=request["cell"], timeout=timeout,
                                 max_output=max_output)
        if result["alive"] and session is None:
            self.destroy(process)
        result["evicted"] = [s for s in evicted if s is not None]
        result["id"] = request["id"]
        return result

    def serve(self) -> None:
        requests = FrameReader(0)
        while True:
            self.ensure_spare()  # fork the next session process while the host is busy elsewhere
            request = requests.read(float("inf"))
            if not isinstance(request, dict):
                return
            op = request.get("op")
            if op == "exec":
                write_frame(1, self.execute(request))
            elif op == "close":
                self.close_session(request["session"])
            elif op == "exit":
                return


def _leave(code: object = None) -> None:
    raise SystemExit(code)


def main() -> None:
    config = json.loads(sys.argv[1])
    sys.path[:0] = config["sys_path"]
    # -S skips site, which defines exit() and quit(); model code calls them.
    builtins.exit = builtins.quit = _leave  # type: ignore[attr-defined]
    # Nothing may reach the host's channel except frames.
    sys.stdout = sys.stderr
    zygote = Zygote(config)
    missing = zygote.preload(config["preload"], warm_up=config["warm_up"])
    zygote.seal()
    write_frame(1, {"ready": True, "missing": missing, "address_space_mb": zygote.address_space_bytes >> 20})
    zygote.serve()
    for process in list(zygote.sessions.values()):
        zygote.destroy(process)


if __name__ == "__main__":
    main()
