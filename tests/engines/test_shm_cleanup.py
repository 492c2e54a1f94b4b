"""Stale ``/dev/shm/psm_*`` segments of killed vLLM runs are removed at engine start; segments in use are kept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openmath_kedro.engines import EngineError, VLLMEngine, vllm_engine
from openmath_kedro.engines.vllm_engine import SHM_DIR, remove_stale_shm_segments

pytestmark = pytest.mark.skipif(not SHM_DIR.is_dir(), reason="no /dev/shm")

SIZE = 1 << 20

# Creates a segment the way vLLM's ring buffer does and exits without unlinking it, as a killed run would
# (unregistered from Python's resource tracker, which would otherwise unlink it at exit).
LEAVE_STALE = """
import sys
from multiprocessing import resource_tracker, shared_memory
segment = shared_memory.SharedMemory(create=True, size=int(sys.argv[2]), name=sys.argv[1])
segment.buf[:4096] = b"x" * 4096
resource_tracker.unregister(segment._name, "shared_memory")
segment.close()
"""

# Keeps one segment mapped (its descriptor closed) and one open (not mapped) until stdin closes.
HOLD = """
import os, sys
from multiprocessing import resource_tracker, shared_memory
mapped = shared_memory.SharedMemory(create=True, size=int(sys.argv[3]), name=sys.argv[1])
resource_tracker.unregister(mapped._name, "shared_memory")
os.close(mapped._fd)
mapped._fd = -1
opened = shared_memory.SharedMemory(create=True, size=int(sys.argv[3]), name=sys.argv[2])
resource_tracker.unregister(opened._name, "shared_memory")
opened.close()
descriptor = os.open("/dev/shm/" + sys.argv[2], os.O_RDWR)
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"psm_test_{uuid.uuid4().hex[:8]}_"
    yield prefix
    for leftover in SHM_DIR.glob(f"{prefix}*"):
        leftover.unlink()


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_segment_is_removed_and_segments_in_use_are_kept(prefix, caplog):
    stale, young, mapped, opened = (f"{prefix}{name}" for name in ("stale", "young", "mapped", "opened"))
    for name in (stale, young):
        subprocess.run([sys.executable, "-c", LEAVE_STALE, name, str(SIZE)], check=True, timeout=60)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, mapped, opened, str(SIZE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "ready\n"
        for name in (stale, mapped, opened):
            age(SHM_DIR / name, 3600)  # as old as a killed run's leftovers
        with caplog.at_level(logging.INFO, logger=vllm_engine.__name__):
            removed, freed = remove_stale_shm_segments(pattern=f"{prefix}*")
        assert removed == 1 and freed >= 4096
        assert sorted(p.name for p in SHM_DIR.glob(f"{prefix}*")) == sorted([young, mapped, opened])
        assert "Removed 1 stale shared-memory segment of killed vLLM runs from /dev/shm" in caplog.text
        assert "MB of memory freed (1 MB in size)" in caplog.text
    finally:
        holder.communicate("", timeout=60)
    # once their process has ended, the two it held are stale too; the young one waits for its age
    assert remove_stale_shm_segments(pattern=f"{prefix}*")[0] == 2
    assert remove_stale_shm_segments(pattern=f"{prefix}*", min_age_seconds=0)[0] == 1
    assert list(SHM_DIR.glob(f"{prefix}*")) == []
    assert remove_stale_shm_segments(pattern=f"{prefix}*") == (0, 0)


def test_engine_start_cleans_before_anything_else(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(vllm_engine, "remove_stale_shm_segments", lambda: calls.append("cleaned") or (0, 0))
    with pytest.raises(EngineError, match="does not exist"):
        VLLMEngine(model=str(tmp_path / "missing")).start()  # fails before vLLM is imported
    assert calls == ["cleaned"]
