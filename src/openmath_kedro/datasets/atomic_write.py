"""Atomic file writes that give the file the mode a plain ``open(path, "w")`` would.

Every dataset of the project writes a temporary file next to its target and renames it into place, so readers
never see half a file and a failed save keeps the previous one. ``tempfile.mkstemp`` creates that temporary
file with mode 0600 (it is meant to be private) and ``os.replace`` keeps the mode, so tables written that way
were unreadable to other users whatever the umask said, which breaks data/ on shared storage. Here the file
gets ``0o666 & ~umask`` before it is renamed.

No library is used: the lock has none, and the maintained-looking candidate (``atomicwrites``) is archived by
its author and also leaves its files 0600 (``NamedTemporaryFile``). The job is a dozen lines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the kernel reports it (Linux 4.7+)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # os.umask can only be read by setting it: set and restore under a lock so that two callers here never
    # see each other's placeholder (a file created meanwhile by another thread would get mode 0777 & ~0o077)
    with _UMASK_LOCK:
        umask = os.umask(0o077)
        os.umask(umask)
    return umask


def new_file_mode() -> int:
    """The permission bits ``open(path, "w")`` gives a new file: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


def apply_umask_modes(root: Path) -> None:
    """Give every file and folder under ``root`` the mode the umask gives new ones. For folders written by
    libraries that create files privately (safetensors writes 0600 weights; ``mkdtemp`` makes 0700 folders)."""
    umask = current_umask()
    root.chmod(0o777 & ~umask)
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path next to ``target`` to write; moved onto ``target`` when the block ends without error.

    The block may write the path itself or hand it to a library (``write_parquet(path)``, ``shutil.copyfile``)
    and may check the result before it lands: an exception leaves ``target`` as it was and removes the
    temporary file. On success the file is given the umask's mode, fsynced (so a crash right after the rename
    cannot leave an empty file behind it) and renamed with ``os.replace``. Missing parent folders are created
    (``mkdir`` follows the umask already).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        # after writing: a writer that replaced the file (rather than writing into it) made a new inode
        os.chmod(temporary, new_file_mode())
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder next to ``target`` to fill; it replaces ``target`` when the block ends without error.

    For writers that produce a whole folder (``save_pretrained``). An exception leaves ``target`` as it was;
    on success the folder gets the umask's modes (``mkdtemp`` and safetensors make them private) and is swapped
    in with two renames (the old folder is moved aside first, as a folder cannot be replaced in one rename).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield staging
        apply_umask_modes(staging)
        previous = target.with_name(f".{target.name}.previous")
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(target, previous)
        os.replace(staging, target)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
