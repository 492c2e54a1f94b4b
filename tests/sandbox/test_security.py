"""Attacks on the sandbox. Each one is shown to work without isolation (the explicit unsafe mode, where that
is harmless to the machine) or asserts a limit that only the sandbox provides; after each, the pool still
serves correct results."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openmath_kedro.sandbox import SandboxPool

from .conftest import SECRET_ENV_NAME, SECRET_ENV_VALUE, assert_healthy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def tcp_server() -> Iterator[int]:
    """A TCP server on the host's 127.0.0.1 that answers every connection with b'pong'."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"pong")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def dns_server() -> Iterator[int]:
    """A UDP 'DNS server' on the host's 127.0.0.1 that echoes every query back."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(512)
            except OSError:
                continue
            server.sendto(data, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, cpu ticks, state) of every process on the host."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), fields[0])
    return table


def _descendants(root: int) -> dict[int, tuple[int, int, str]]:
    table = _process_table()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, info in table.items():
            if info[0] == parent and pid not in found:
                found[pid] = info
                frontier.append(pid)
    return found


def _sandbox_cpu_seconds(pool: SandboxPool) -> float:
    ticks = sum(info[1] for root in pool.worker_pids for info in _descendants(root).values())
    return ticks / os.sysconf("SC_CLK_TCK")


def _sandbox_process_count(pool: SandboxPool) -> int:
    return sum(len([i for i in _descendants(root).values() if i[2] != "Z"]) for root in pool.worker_pids)


# ------------------------------------------------------------------------------------------ network


def test_no_network_to_host_services(pool: SandboxPool, unsafe_pool: SandboxPool, tcp_server: int) -> None:
    attack = (
        "import socket\n"
        f"with socket.create_connection(('127.0.0.1', {tcp_server}), timeout=2) as c:\n"
        "    print(c.recv(4))"
    )
    assert unsafe_pool.execute(attack).output == "b'pong'\n"
    blocked = pool.execute(attack)
    assert blocked.error_kind == "exception"
    assert "ConnectionRefusedError" in blocked.output or "OSError" in blocked.output
    assert_healthy(pool)


def test_no_dns(pool: SandboxPool, unsafe_pool: SandboxPool, dns_server: int) -> None:
    query = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(1)\n"
        f"s.sendto(b'\\x12\\x34\\x01\\x00\\x00\\x01' + bytes(6) + b'\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01', "
        f"('127.0.0.1', {dns_server}))\n"
        "print(s.recvfrom(512)[0][:2])"
    )
    assert unsafe_pool.execute(query).output == "b'\\x124'\n"
    assert pool.execute(query).error_kind == "exception"
    resolve = pool.execute("import socket\nsocket.getaddrinfo('example.com', 443)")
    assert "gaierror" in resolve.output
    interfaces = pool.execute("import socket\nprint(sorted(name for _, name in socket.if_nameindex()))")
    assert interfaces.output == "['lo']\n"
    assert_healthy(pool)


# ------------------------------------------------------------------------------------------ secrets


def test_cannot_read_secret_files(pool: SandboxPool, unsafe_pool: SandboxPool, tmp_path: Path) -> None:
    secret = tmp_path / "credentials.txt"
    secret.write_text("file-secret-93ab")
    home_secret = Path.home() / ".openmath_sandbox_test_secret"
    home_secret.write_text("home-secret-71c2")
    try:
        for path in (secret, home_secret, PROJECT_ROOT / "pyproject.toml"):
            attack = f"print(open({str(path)!r}).read()[:40])"
            assert unsafe_pool.execute(attack).ok
            blocked = pool.execute(attack)
            assert blocked.error_kind == "exception" and "FileNotFoundError" in blocked.output, path
    finally:
        home_secret.unlink()
    visible = pool.execute("import os\nprint(sorted(os.listdir('/')), os.path.exists('/etc/passwd'))")
    assert visible.output == "['dev', 'lib', 'lib64', 'opt', 'proc', 'tmp', 'usr'] False\n"
    assert_healthy(pool)


def test_cannot_read_parent_environment(pool: SandboxPool, unsafe_pool: SandboxPool) -> None:
    attack = f"import os\nprint(os.environ.get({SECRET_ENV_NAME!r}))"
    assert unsafe_pool.execute(attack).output == f"{SECRET_ENV_VALUE}\n"
    assert pool.execute(attack).output == "None\n"
    # Nor through /proc: neither of the sandbox's own ancestors nor anything else carries it.
    scan = (
        "import os\nfound = []\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        f"        found += [pid] if b{SECRET_ENV_VALUE!r} in open(f'/proc/{{pid}}/environ', 'rb').read() else []\n"
        "    except OSError:\n"
        "        pass\n"
        "print(found)"
    )
    assert pool.execute(scan).output == "[]\n"
    assert_healthy(pool)


def test_runs_unprivileged(pool: SandboxPool) -> None:
    probe = pool.execute(
        "import os\nstatus = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(os.getuid() != 0, status['CapEff'].strip(), status['CapBnd'].strip(), status['NoNewPrivs'].strip())"
    )
    assert probe.output == "True 0000000000000000 0000000000000000 1\n"


# ------------------------------------------------------------------------------------------ file system


def test_cannot_write_outside_tmp(pool: SandboxPool, unsafe_pool: SandboxPool, tmp_path: Path) -> None:
    host_target = tmp_path / "planted.py"
    attack = f"open({str(host_target)!r}, 'w').write('import os')"
    assert unsafe_pool.execute(attack).ok and host_target.exists()
    host_target.unlink()
    targets = [str(host_target), "/planted", "/usr/lib/planted", "/opt/site-packages/numpy/planted.py",
               "/opt/python/lib/planted", "/proc/sys/kernel/hostname"]  # fmt: skip
    for target in targets:
        result = pool.execute(f"open({target!r}, 'w').write('x')")
        assert result.error_kind == "exception", target
        assert any(e in result.output for e in ("PermissionError", "OSError", "FileNotFoundError")), target
    assert not host_target.exists()
    assert pool.execute("open('/tmp/ok.txt', 'w').write('fine')").output == "4\n"
    assert_healthy(pool)


def test_tmp_does_not_leak_between_solutions(pool: SandboxPool, unsafe_pool: SandboxPool) -> None:
    plant = (
        "import os\nos.makedirs('/tmp/d/e', exist_ok=True)\nopen('/tmp/d/e/leak', 'w').write('x')\n"
        "open('/tmp/leak', 'w').write('x')\nopen('/dev/shm/leak', 'w').write('x')\n"
        "os.chmod('/tmp/d/e', 0)\nos.chmod('/tmp/d', 0)"  # try to make the wipe fail
    )
    look = "import os\nprint(sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')))"
    # Without isolation the files of one solution are there for the next.
    assert unsafe_pool.execute("open('/tmp/openmath-sandbox-test-leak', 'w').write('x')").ok
    try:
        assert (
            "True"
            in unsafe_pool.execute("import os\nos.path.exists('/tmp/openmath-sandbox-test-leak')").output
        )
    finally:
        os.unlink("/tmp/openmath-sandbox-test-leak")
    with pool.session() as open_solution:  # still open while the others run
        assert open_solution.execute(plant).ok
        for _ in range(8):  # one-off solutions, on reused processes of both workers
            assert pool.execute(look).output == "[] []\n"
    for _ in range(3):
        assert pool.execute(plant).ok
        assert pool.execute(look).output == "[] []\n"
    assert_healthy(pool)


# ------------------------------------------------------------------------------------------ resources


def test_fork_bomb_is_contained(pool: SandboxPool) -> None:
    before = _sandbox_process_count(pool)
    with pool.session() as solution:
        bomb = solution.execute(
            "import os, time\nforked = 0\n"
            "for _ in range(500):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(60)\n"
            "            os._exit(0)\n"
            "        forked += 1\n"
            "    except OSError:\n"
            "        break\n"
            "print(forked)"
        )
        assert bomb.ok and int(bomb.output) < 16  # the process limit of the session
    classic = pool.execute("import os\nwhile True:\n    os.fork()", timeout=2)
    assert classic.error_kind in ("exception", "timeout")
    deadline = time.monotonic() + 5
    while _sandbox_process_count(pool) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sandbox_process_count(pool) <= before  # every forked process is gone
    assert_healthy(pool)


def test_memory_bomb(pool: SandboxPool) -> None:
    for attack in (
        "x = bytearray(8 * 1024**3)",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024**2))",
    ):
        result = pool.execute(attack, timeout=10)
        assert result.error_kind == "memory", result
        assert "MemoryError" in result.output
    assert_healthy(pool)


def test_infinite_loop_times_out(pool: SandboxPool) -> None:
    started = time.monotonic()
    result = pool.execute("while True:\n    pass", timeout=1)
    assert result.timed_out and result.error_kind == "timeout"
    assert time.monotonic() - started < 4
    assert_healthy(pool)


def test_busy_thread_left_behind_is_frozen(pool: SandboxPool) -> None:
    spin = "import threading\ndef spin():\n    while True:\n        pass\nthreading.Thread(target=spin, daemon=True).start()"
    with pool.session() as solution:
        assert solution.execute(spin + "\nprint('started')").output == "started\n"
        time.sleep(0.2)
        before = _sandbox_cpu_seconds(pool)
        time.sleep(1.0)
        assert _sandbox_cpu_seconds(pool) - before < 0.3  # it would be ~1.0 s if the thread kept running
        assert solution.execute("21 * 2").output == "42\n"  # the solution itself goes on
        joined = solution.execute(
            spin.replace(".start()", ".start()\nthreading.enumerate()[-1].join()"), timeout=1
        )
        assert joined.timed_out
    assert_healthy(pool)


def test_gigantic_output(pool: SandboxPool) -> None:
    for attack, timeout in (("print('x' * 10**8)", 10), ("while True:\n    print('y' * 10000)", 1),
                            ("import os\nos.write(1, b'z' * 10**8)", 10)):  # fmt: skip
        result = pool.execute(attack, timeout=timeout, max_output=500)
        assert len(result.output) < 1000, attack
        assert result.truncated or result.error_kind is not None, attack
    assert_healthy(pool)


# ------------------------------------------------------------------------------------------ escapes


def test_cannot_kill_parent_or_other_workers(pool: SandboxPool, unsafe_pool: SandboxPool) -> None:
    host_pids = pool.worker_pids + unsafe_pool.worker_pids + [os.getpid()]
    # Without isolation the code may signal anything of its user (signal 0 only checks; it harms nothing).
    probe = f"import os\nfor pid in {host_pids}:\n    os.kill(pid, 0)\nprint('reachable')"
    assert unsafe_pool.execute(probe).output == "reachable\n"
    workers_before = pool.worker_pids
    attack = (
        "import os, signal\nresults = []\n"
        f"for pid in [os.getppid(), 1, *{host_pids}]:\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "        results.append('killed')\n"
        "    except OSError as e:\n"
        "        results.append(type(e).__name__)\n"
        "print(results)"
    )
    result = pool.execute(attack)
    assert "killed" not in result.output, result.output
    # kill(-1) reaches every process the code may signal: only its own (and it survives itself).
    assert pool.execute("import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('alive')").output == "alive\n"
    assert pool.worker_pids == workers_before  # no worker was killed or replaced
    assert_healthy(pool)


def test_exit_and_ctypes_tricks(pool: SandboxPool) -> None:
    assert pool.execute("import sys\nsys.exit(5)").error_kind == "exception"
    hard_exit = pool.execute("print('last words')\nimport os\nos._exit(0)")
    assert hard_exit.error_kind == "crash" and hard_exit.output.startswith("last words\n")
    segfault = pool.execute("import ctypes\nctypes.string_at(0)")
    assert segfault.error_kind == "crash" and "SIGSEGV" in segfault.output
    privileges = pool.execute(
        "import ctypes, os\nlibc = ctypes.CDLL(None)\n"
        "print(libc.setuid(0), libc.setgid(0), libc.kill(os.getppid(), 9), libc.unshare(0x10000000))"
    )
    assert privileges.output == "-1 -1 -1 -1\n"
    with pool.session() as solution:
        solution.execute("value = 1")
        solution.execute("import os\nos._exit(1)")
        assert solution.execute("value + 1").output == "2\n"  # replayed after the crash
    assert_healthy(pool)


def test_closing_stdout_and_the_result_channel(pool: SandboxPool) -> None:
    with pool.session() as solution:
        closed = solution.execute("import sys\nsys.stdout.close()\nprint('hidden')")
        assert closed.error_kind == "exception" and "closed file" in closed.output
        assert solution.execute("print('back')").output == "back\n"
        descriptors = solution.execute("import os\nos.close(1)\nos.close(2)\nprint('hidden')")
        assert descriptors.error_kind == "exception"
        assert solution.execute("print('back again')").output == "back again\n"
    for fd in range(3, 6):  # the sandbox's own channels
        result = pool.execute(f"import os\nos.close({fd})\nprint('x')")
        assert result.error_kind in (None, "exception", "crash")
    assert_healthy(pool)
