"""Everything that confines a sandbox worker's processes beyond what bubblewrap does: the security core.

Runs inside the sandbox (standard library only; see ``isolation.py`` for how it gets there). The zygote calls
``drop_zygote_capabilities`` once, after its imports; every session process, right after it is forked and has
its fds in place, calls ``enter_session_jail`` (while still root: private ``/tmp`` and ``/dev/shm``, then its
own uid with no capabilities) and ``lock_down_session`` (no new privileges, death with the zygote, no user
namespaces, rlimits). Nothing here runs model code; everything after it does.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import struct

# Linux constants not exposed by the os module of Python 3.11.
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_SECCOMP, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = (
    1,
    4,
    22,
    24,
    38,
)
_SECCOMP_MODE_FILTER = 2
_CAP_LAST = 63

# Capabilities the zygote keeps, by number: switch uids, signal and mount for its session processes, and
# DAC_OVERRIDE to wipe files a session made unreadable to others from its /tmp between solutions. The host
# grants the same names with bwrap --cap-add (isolation.ZYGOTE_CAPABILITIES; the host never imports this
# module, so tests/sandbox/test_module_structure.py checks that the two agree).
ZYGOTE_CAPABILITIES = {
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_KILL": 5,
    "CAP_SYS_ADMIN": 21,
    "CAP_DAC_OVERRIDE": 1,
}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def drop_zygote_capabilities() -> None:
    """Shrink the zygote's bounding set to ``ZYGOTE_CAPABILITIES`` (after its imports, before any fork)."""
    libc = _libc()
    keep = set(ZYGOTE_CAPABILITIES.values())
    for cap in range(_CAP_LAST + 1):
        if cap not in keep:
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)


def enter_session_jail(*, uid: int, tmp_mb: int) -> list[int]:
    """In a fresh session process, while still root: private /tmp and /dev/shm, then drop to ``uid``.

    Returns directory fds of the private mounts, opened while still root, for the zygote to wipe them
    between solutions without entering the session's mount namespace.
    """
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Private propagation, so the session's mounts never show up in the zygote or in other sessions.
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    options = f"size={tmp_mb}m,mode=1777".encode()
    for target in (b"/tmp", b"/dev/shm"):
        if os.path.isdir(target):
            _check(libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, options), "mount tmpfs")
    private_dirs = [
        os.open(t, os.O_RDONLY | os.O_DIRECTORY) for t in (b"/tmp", b"/dev/shm") if os.path.isdir(t)
    ]
    for cap in range(_CAP_LAST + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability: ignored
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears every capability: the session is an ordinary user
    # Dumpable again (setuid cleared it), so /proc/PID belongs to the session's uid and the zygote finds it fast.
    _libc().prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    return private_dirs


# Seccomp: the session may not create user namespaces (this kernel lets unprivileged users do so, and a
# namespace where it is "root" is the usual first step of a kernel exploit). Everything else is allowed.
_SECCOMP_ARCH = {"x86_64": (0xC000003E, 272, 56, 435), "aarch64": (0xC00000B7, 97, 220, 435)}


def forbid_user_namespaces() -> bool:
    """Install the filter (needs no_new_privs); False on an architecture it does not know."""
    machine = os.uname().machine
    if machine not in _SECCOMP_ARCH:
        return False
    arch, nr_unshare, nr_clone, nr_clone3 = _SECCOMP_ARCH[machine]
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    program = [
        (load, 0, 0, 4),  # 0: architecture
        (jeq, 1, 0, arch),  # 1
        (ret, 0, 0, enosys),  # 2: another ABI (i386 on x86_64) is refused outright
        (load, 0, 0, 0),  # 3: syscall number
        (jge, 4, 0, 0x40000000),  # 4: x32 ABI -> 9
        (jeq, 4, 0, nr_unshare),  # 5 -> 10
        (jeq, 3, 0, nr_clone),  # 6 -> 10
        (jeq, 1, 0, nr_clone3),  # 7 -> 9: its flags are in memory, out of reach; ENOSYS makes libc use clone
        (ret, 0, 0, allow),  # 8
        (ret, 0, 0, enosys),  # 9
        (load, 0, 0, 16),  # 10: low 32 bits of the first argument, the namespace flags
        (jset, 0, 1, _CLONE_NEWUSER),  # 11
        (ret, 0, 0, eperm),  # 12
        (ret, 0, 0, allow),  # 13
    ]
    filters = b"".join(struct.pack("<HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(filters)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(buffer))
    _check(_libc().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
    return True


def apply_rlimits(limits: dict, *, address_space_bytes: int) -> None:
    """Soft and hard limits alike, so the session (no longer root) cannot raise them again."""

    def set_limit(kind: int, value: int) -> None:
        resource.setrlimit(kind, (value, value))

    set_limit(resource.RLIMIT_AS, address_space_bytes)
    set_limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]))
    set_limit(resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) << 20)
    set_limit(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    set_limit(resource.RLIMIT_NPROC, int(limits["processes"]))
    set_limit(resource.RLIMIT_CORE, 0)


def lock_down_session(*, isolated: bool, zygote_pid: int, limits: dict, address_space_bytes: int) -> None:
    """The rest of a session process's confinement, after ``enter_session_jail`` (or, unsafe, without it).

    No new privileges, killed with the zygote, no user namespaces (isolated only), the rlimits; an
    oversized write then fails with EFBIG instead of killing the process.
    """
    libc = _libc()
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    if os.getppid() != zygote_pid:  # the zygote died before the death signal was armed
        os._exit(0)
    if isolated:
        forbid_user_namespaces()
    apply_rlimits(limits, address_space_bytes=address_space_bytes)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
