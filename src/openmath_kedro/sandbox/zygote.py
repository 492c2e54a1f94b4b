"""The program that runs inside one sandbox worker: the "zygote" and its session processes.

Standard library only: the host starts it inside bubblewrap, where this package is not visible, by passing
the text of the worker modules to the interpreter (``isolation.py``). The worker's code is split so that each
part can be read alone: ``framing`` (the wire), ``jail`` (confinement of the processes), ``cell_runner`` (what a
session process does with a cell) and this module (process management).

Process tree inside one worker's sandbox (its own pid namespace)::

    bwrap (pid 1) -> zygote (numpy/sympy imported, never runs model code)
                       -> session process per solution (fork of the zygote, one private /tmp, own uid,
                          rlimits, no capabilities); later blocks of the solution see earlier variables

The zygote reads requests from the host on stdin and answers on stdout, one length-prefixed JSON frame each.
It enforces the wall-clock timeout itself (it kills the session process), so a runaway block costs a fork,
not an interpreter start.
"""

from __future__ import annotations

import builtins
import fcntl
import gc
import json
import linecache
import os
import select
import signal
import socket
import sys
import time

from .cell_runner import CMD_FD, OUTPUT_FD, RESULT_FD, BoundedOutput, run_cell, serve_session
from .framing import FrameReader, write_frame
from .jail import drop_zygote_capabilities, enter_session_jail, lock_down_session

# A session process may answer with at most this much; anything larger is treated as a crash.
_MAX_RESULT_BYTES = 1 << 20
# uids per worker beyond one per session: an idle process, and killed ones that are still dying.
_SPARE_UIDS = 10
# A process whose peak memory grew this much over the zygote's is not reused (a big heap stays big).
_REUSE_MAX_GROWTH_MB = 256


def _move_fd(fd: int, target: int) -> None:
    if fd != target:
        os.dup2(fd, target)


def _start_session_process(*, cmd_r: int, result_w: int, output_fd: int, zygote: Zygote, uid: int) -> None:  # noqa: E501
    """Runs in the forked child: set up fds, isolation and limits, then serve blocks. Never returns."""
    try:
        os.setsid()
        # Park the fds high before placing them, so no dup2 clobbers another one of them.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (cmd_r, result_w, output_fd)]
        devnull = os.open("/dev/null", os.O_RDONLY)
        _move_fd(devnull, 0)
        for fd, target in zip(high, (CMD_FD, RESULT_FD, OUTPUT_FD), strict=True):
            _move_fd(fd, target)
        _move_fd(OUTPUT_FD, 1)
        _move_fd(OUTPUT_FD, 2)
        os.closerange(OUTPUT_FD + 1, 1 << 16)  # the host pipes and every other session's pipes
        limits = zygote.limits
        private_dirs: list[int] = []
        if zygote.isolated:
            private_dirs = enter_session_jail(uid=uid, tmp_mb=int(limits["tmp_size_mb"]))
            home = "/tmp"  # the private tmpfs just mounted
        else:
            home = zygote.unsafe_workdir(uid)
        os.chdir(home)
        lock_down_session(
            isolated=zygote.isolated,
            zygote_pid=zygote.pid,
            limits=limits,
            address_space_bytes=zygote.address_space_bytes,
        )
        os.umask(0o022)
        gc.enable()
        # Ready: hand the zygote the private directories (the ready message itself is one byte).
        with socket.socket(fileno=os.dup(RESULT_FD)) as channel:
            socket.send_fds(channel, [b"R"], private_dirs)
        for fd in private_dirs:
            os.close(fd)
        serve_session(session_pid=os.getpid(), home=home)
    except BaseException:  # noqa: BLE001 - never fall back into the zygote's loop
        os._exit(70)
    os._exit(0)


class SessionProcess:
    """The zygote's handle on one session process (it serves one solution at a time)."""

    def __init__(self, *, pid: int, uid: int, cmd_w: int, result_r: int, output_fd: int) -> None:
        self.pid = pid
        self.uid = uid
        self.cmd_w = cmd_w
        self.results = FrameReader(result_r, max_bytes=_MAX_RESULT_BYTES)
        self.output_fd = output_fd
        self.private_dirs: list[int] = []  # /tmp and /dev/shm of this process, for wiping
        self.session: int | None = None
        self.solutions = 0  # solutions served so far (recycled after max_solutions)
        self.stopped = False
        self.last_used = time.monotonic()
        self.exit_status: int | None = None  # wait status, once reaped


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _wipe_directory(dir_fd: int, *, depth: int = 0, budget: list[int]) -> bool:
    """Delete everything under an open directory without following links; False if it is too deep or big."""
    if depth > 32:
        return False
    with os.scandir(dir_fd) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        budget[0] -= 1
        if budget[0] < 0:
            return False
        if is_dir:
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                if not _wipe_directory(child, depth=depth + 1, budget=budget):
                    return False
            finally:
                os.close(child)
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    return True


class Zygote:
    """Owns the session processes of one worker and runs blocks in them on the host's request.

    A session process serves one solution at a time. When the solution ends it is reset (fresh namespace,
    interpreter state restored, /tmp and /dev/shm wiped by the zygote, leftover processes killed) and serves
    the next one; it is replaced after a timeout, a crash, leftover threads, or ``max_solutions`` solutions.
    """

    def __init__(self, config: dict) -> None:
        self.isolated: bool = config["isolated"]
        self.limits: dict = config["limits"]
        self.uid_base: int = config["uid_base"]
        self.slots: int = config["sessions"]
        self.max_solutions: int = config["max_solutions"]
        self.pid = os.getpid()
        self._own_pids = {"1", str(self.pid)}
        self.sessions: dict[int, SessionProcess] = {}
        self.idle: list[SessionProcess] = []  # reset and ready for a new solution
        # One uid per live session, the idle ones, and a few still dying (their uid is busy until then).
        self.free_uids = [self.uid_base + slot for slot in range(self.slots + _SPARE_UIDS)]
        self.dying: list[SessionProcess] = []
        self.after_reply: list[SessionProcess] = []
        self.address_space_bytes = 0
        self.rss_mb = 0
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
        if warm_up:  # the notebook machinery itself: parsing, tracebacks, the output writer
            saved = sys.stdout
            sys.stdout = BoundedOutput(limit=0, counter=[0])
            for code in ("x = 1\nx + 1", "print(1/3)", "1/0", "x = ("):
                run_cell(code, "<cell 0>", {"__name__": "__main__"})
            sys.stdout = saved
            linecache.clearcache()
        return missing

    def seal(self) -> None:
        """After imports: drop unneeded capabilities and fix the address-space limit of sessions."""
        if self.isolated:
            drop_zygote_capabilities()
        gc.collect()
        gc.freeze()  # fewer copy-on-write page faults in the forked sessions
        gc.disable()
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        vm_kb = int(fields["VmSize"].split()[0])
        self.rss_mb = int(fields["VmRSS"].split()[0]) >> 10
        self.address_space_bytes = (vm_kb << 10) + (int(self.limits["memory_mb"]) << 20)

    def unsafe_workdir(self, uid: int) -> str:
        path = os.path.join(self._unsafe_root, str(uid))
        os.makedirs(path, exist_ok=True)
        return path

    # --- session processes

    def _fork_session(self) -> SessionProcess | None:
        if not self.free_uids and self.dying:
            self.collect_dead(need_uid=True)
        if not self.free_uids:
            return None
        uid = self.free_uids.pop()
        cmd_r, cmd_w = os.pipe()
        result_r, result_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output_fd = os.memfd_create("block-output", 0)
        # O_APPEND: the zygote truncates the file before each block and the session writes from 0 again.
        fcntl.fcntl(output_fd, fcntl.F_SETFL, fcntl.fcntl(output_fd, fcntl.F_GETFL) | os.O_APPEND)
        pid = os.fork()
        if pid == 0:
            _start_session_process(
                cmd_r=cmd_r, result_w=result_w.fileno(), output_fd=output_fd, zygote=self, uid=uid
            )
        os.close(cmd_r)
        result_w.close()
        process = SessionProcess(
            pid=pid, uid=uid, cmd_w=cmd_w, result_r=result_r.detach(), output_fd=output_fd
        )
        # Wait for "ready", which carries the private /tmp and /dev/shm directories.
        ready, _, _ = select.select([process.results.fd], [], [], 30.0)
        try:
            with socket.socket(fileno=os.dup(process.results.fd)) as channel:
                message, fds, _, _ = socket.recv_fds(channel, 1, 4) if ready else (b"", [], 0, None)
        except OSError:
            message, fds = b"", []
        process.private_dirs = list(fds)
        if message != b"R":
            self.destroy(process)
            return None
        return process

    def ensure_idle(self) -> None:
        """Keep one process ready, so a new solution does not wait for a fork."""
        if not self.idle and len(self.sessions) < self.slots:
            process = self._fork_session()
            if process is not None:
                self.idle.append(process)

    def _take_process(self, evicted: list[int]) -> SessionProcess:
        for _ in range(3):
            if self.idle:
                return self.idle.pop()
            process = self._fork_session()
            if process is not None:
                return process
            if self.sessions:  # every slot is taken: the least recently used session makes room
                oldest = min(self.sessions.values(), key=lambda p: p.last_used)
                evicted.append(oldest.session)
                self.release(oldest)
        raise RuntimeError("cannot start a session process")

    def _live_processes(self) -> list[tuple[int, int]]:
        """(pid, uid) of every live process in this sandbox other than pid 1 and the zygote.

        stat() of /proc/PID is cheap and gives the uid of a dumpable process (sessions set themselves
        dumpable); a process that hides behind root ownership costs a read of its status file instead.
        """
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or name in self._own_pids:
                continue
            try:
                uid = os.stat(f"/proc/{name}").st_uid
                if uid == 0 or uid < self.uid_base:
                    with open(f"/proc/{name}/status", "rb") as status:
                        fields = dict(
                            line.split(b":", 1) for line in status.read().splitlines() if b":" in line
                        )
                    if fields[b"State"].strip().startswith(b"Z"):
                        continue
                    uid = int(fields[b"Uid"].split()[0])
            except (OSError, KeyError, ValueError):
                continue
            found.append((int(name), uid))
        return found

    def _processes_of(self, uid: int) -> list[int]:
        return [pid for pid, owner in self._live_processes() if owner == uid]

    def _kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _kill_everything_of(self, process: SessionProcess) -> None:
        if not self.isolated:
            if process.exit_status is None:  # a reaped pid may already belong to someone else
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._kill(process.pid)
            return
        # Every process with the session's uid, whatever it did to its session or process group.
        if process.exit_status is None:
            self._kill(process.pid)
        for pid in self._processes_of(process.uid):
            self._kill(pid)

    def _kill_leftovers(self, process: SessionProcess) -> None:
        """Kill processes a block left behind (the session process itself survives)."""
        if self.isolated:
            for pid in self._processes_of(process.uid):
                if pid != process.pid:
                    self._kill(pid)

    def _reap(self, process: SessionProcess) -> int | None:
        if process.exit_status is not None:
            return process.exit_status
        try:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            return -1
        if pid:
            process.exit_status = status
        return status if pid else None

    def quiesce(self, process: SessionProcess) -> None:
        """Between blocks: kill processes the block left behind; freeze threads it left running."""
        self._kill_leftovers(process)
        try:
            threads = len(os.listdir(f"/proc/{process.pid}/task"))
        except OSError:
            return
        if threads > 1:
            os.kill(process.pid, signal.SIGSTOP)  # stops every thread until the next block of this session
            process.stopped = True

    def destroy(self, process: SessionProcess) -> None:
        """Kill a session process and everything it started; its private /tmp dies with it.

        Does not wait: the dying processes are reaped, and their uid freed, by ``collect_dead``.
        """
        self._kill_everything_of(process)
        for fd in (process.cmd_w, process.results.fd, process.output_fd, *process.private_dirs):
            os.close(fd)
        process.private_dirs = []
        if process.session is not None and self.sessions.get(process.session) is process:
            del self.sessions[process.session]
        process.session = None
        self.dying.append(process)

    def release(self, process: SessionProcess) -> None:
        """A solution ended: reset its process for the next solution, or destroy it."""
        if process.session is not None and self.sessions.get(process.session) is process:
            del self.sessions[process.session]
        process.session = None
        process.solutions += 1
        if process.solutions >= self.max_solutions or process.stopped or not self._reset(process):
            self.destroy(process)
        else:
            self.idle.append(process)

    def _reset(self, process: SessionProcess) -> bool:
        self._kill_leftovers(process)
        try:
            write_frame(process.cmd_w, {"op": "reset"})
            stats = process.results.read(time.monotonic() + 5.0)
        except OSError:
            return False
        if not isinstance(stats, dict) or "threads" not in stats:
            return False
        output = os.fstat(process.output_fd)
        if stats["output_file"] != [output.st_dev, output.st_ino]:
            return False  # the solution closed or replaced the output channel
        if stats["threads"] > 1 or stats["cpu_seconds"] > 0.5 * float(self.limits["cpu_seconds"]):
            return False  # a thread that outlived its solution, or most of the CPU budget spent
        if stats["max_rss_mb"] > self.rss_mb + _REUSE_MAX_GROWTH_MB:
            return False  # a big heap stays big; start the next solution lean
        budget = [10_000]
        try:
            if not all(_wipe_directory(fd, budget=budget) for fd in process.private_dirs):
                return False
        except OSError:
            return False
        if not self.isolated:
            import shutil

            shutil.rmtree(self.unsafe_workdir(process.uid), ignore_errors=True)
            self.unsafe_workdir(process.uid)
        os.ftruncate(process.output_fd, 0)
        return True

    def collect_dead(self, *, need_uid: bool = False) -> None:
        """Reap dead sessions and free their uid once no process of it is left (waits if ``need_uid``)."""
        for attempt in range(2000):
            if not self.dying:
                return
            for process in self.dying:
                self._reap(process)
            reaped = [p for p in self.dying if p.exit_status is not None]
            if reaped:
                alive_uids = {owner for _, owner in self._live_processes()} if self.isolated else set()
                for process in reaped:
                    if process.uid in alive_uids:
                        self._kill_everything_of(process)  # strays that escaped the first round
                        continue
                    self.dying.remove(process)
                    self.free_uids.append(process.uid)
                    if not self.isolated:
                        import shutil

                        shutil.rmtree(self.unsafe_workdir(process.uid), ignore_errors=True)
            if not need_uid or self.free_uids:
                return
            time.sleep(0.0005 * min(attempt + 1, 20))

    def close_session(self, session: int) -> None:
        process = self.sessions.get(session)
        if process is not None:
            self.release(process)

    # --- running blocks

    def _read_output(self, process: SessionProcess, max_output: int) -> tuple[str, int]:
        size = os.fstat(process.output_fd).st_size
        data = os.pread(process.output_fd, min(size, 4 * max_output + 4), 0)
        text = data.decode("utf-8", "replace")
        return text, max(len(text), size if size > len(data) else 0)

    def _run_block(
        self,
        process: SessionProcess,
        code: str,
        *,
        cell: str,
        timeout: float,
        max_output: int,
        quiesce: bool = True,
    ) -> dict:
        """Run one block in a live session process; the result says whether the process survived."""
        os.ftruncate(process.output_fd, 0)
        if process.stopped:
            os.kill(process.pid, signal.SIGCONT)
            process.stopped = False
        started = time.monotonic()
        try:
            write_frame(process.cmd_w, {"op": "run", "code": code, "cell": cell, "max_output": max_output})
            answer = process.results.read(started + timeout)
        except OSError:
            answer = "eof"
        seconds = time.monotonic() - started
        output, chars = self._read_output(process, max_output)
        process.last_used = time.monotonic()
        if isinstance(answer, dict) and "kind" in answer:
            if quiesce:
                self.quiesce(process)
            chars = max(chars, int(answer.get("chars", 0)))
            return {
                "output": output,
                "chars": chars,
                "error": str(answer.get("error", "")),
                "kind": answer.get("kind"),
                "timed_out": False,
                "seconds": seconds,
                "alive": True,
            }
        if answer == "timeout":
            self.destroy(process)
            error = f"TimeoutError: the code did not finish within {timeout:g} seconds\n"
            return {
                "output": output,
                "chars": chars,
                "error": error,
                "kind": "timeout",
                "timed_out": True,
                "seconds": seconds,
                "alive": False,
            }
        # The process died, closed its channel or sent garbage: find out how, then clean up.
        status = None
        for _ in range(50):
            status = self._reap(process)
            if status is not None:
                break
            time.sleep(0.002)
        self.destroy(process)
        kind, error = self._describe_death(status, answer if isinstance(answer, str) else "oversized")
        return {
            "output": output,
            "chars": chars,
            "error": error,
            "kind": kind,
            "timed_out": kind == "timeout",
            "seconds": seconds,
            "alive": False,
        }

    def _describe_death(self, status: int | None, answer: str) -> tuple[str, str]:
        if status is not None and status >= 0 and os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU:
                seconds = self.limits["cpu_seconds"]
                return "timeout", f"TimeoutError: the CPU time limit of {seconds} seconds was exceeded\n"
            return "crash", f"Crash: the Python process was killed by {_signal_name(number)}\n"
        if status is not None and status >= 0 and os.WIFEXITED(status):
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
                replayed = self._run_block(
                    process, code, cell=f"<cell {index}>", timeout=timeout, max_output=max_output
                )
                if not replayed["alive"]:
                    process = self._take_process(evicted)
            if session is not None:
                process.session = session
                self.sessions[session] = process
        result = self._run_block(
            process,
            request["code"],
            cell=request["cell"],
            timeout=timeout,
            max_output=max_output,
            quiesce=session is not None,
        )
        if result["alive"] and session is None:
            self.after_reply.append(process)  # the caller gets its answer before the clean-up
        result["evicted"] = [s for s in evicted if s is not None]
        result["id"] = request["id"]
        return result

    def serve(self) -> None:
        requests = FrameReader(0)
        while True:
            self.ensure_idle()  # fork the next session process while the host is busy elsewhere
            request = requests.read(float("inf"))
            if not isinstance(request, dict):
                return
            op = request.get("op")
            if op == "exec":
                write_frame(1, self.execute(request))
                while self.after_reply:
                    self.release(self.after_reply.pop())
                self.collect_dead()
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
    for process in [*zygote.sessions.values(), *zygote.idle]:
        zygote.destroy(process)
