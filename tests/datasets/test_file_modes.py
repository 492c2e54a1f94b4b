"""Files and folders the datasets write get the mode the umask says (not mkstemp's private 0600)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from openmath_kedro.datasets import (
    GenerationChunksDataset,
    JSONLinesDataset,
    VerifiedFileDataset,
    atomic_write,
)
from openmath_kedro.datasets.atomic_write import atomic_path, current_umask, new_file_mode
from openmath_kedro.datasets.polars_table import PolarsTableDataset

RAW = b'{"question": "1+1?", "answer": "#### 2"}\n'


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=["umask022", "umask077", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_every_dataset(root: Path) -> list[Path]:
    """Save through each dataset that writes files; return what it wrote (each in a new folder)."""
    JSONLinesDataset(filepath=str(root / "jsonl" / "t.jsonl")).save(pd.DataFrame({"a": [1, 2]}))
    GenerationChunksDataset(path=str(root / "chunks")).save({"run/00000": pd.DataFrame({"a": [1]})})
    table = pl.DataFrame({"a": [1, 2]})
    PolarsTableDataset(filepath=str(root / "parquet" / "t.parquet")).save(table)
    PolarsTableDataset(filepath=str(root / "ndjson" / "t.jsonl"), file_format="ndjson").save(table)
    sha = hashlib.sha256(RAW).hexdigest()
    mirror = root / "mirror" / "gsm8k" / "test.jsonl"
    server = root / "server" / "test.jsonl"
    for source in (mirror, server):
        source.parent.mkdir(parents=True)
        source.write_bytes(RAW)
        source.chmod(0o600)  # the copy gets the umask's mode, not the source's
    VerifiedFileDataset(
        filepath=str(root / "copied" / "test.jsonl"),
        name="gsm8k/test.jsonl",
        url=server.as_uri(),
        sha256=sha,
        mirror_dirs=[str(root / "mirror")],
    ).load()
    VerifiedFileDataset(
        filepath=str(root / "downloaded" / "test.jsonl"),
        name="gsm8k/test.jsonl",
        url=server.as_uri(),
        sha256=sha,
    ).load()
    return [
        root / "jsonl" / "t.jsonl",
        root / "chunks" / "run" / "00000.jsonl",
        root / "parquet" / "t.parquet",
        root / "ndjson" / "t.jsonl",
        root / "copied" / "test.jsonl",
        root / "downloaded" / "test.jsonl",
    ]


def test_every_dataset_writes_files_and_folders_as_the_umask_says(tmp_path, umask):
    written = write_every_dataset(tmp_path)
    expected_file, expected_folder = 0o666 & ~umask, 0o777 & ~umask
    assert {str(path.relative_to(tmp_path)): oct(mode(path)) for path in written} == {
        str(path.relative_to(tmp_path)): oct(expected_file) for path in written
    }
    for path in written:
        for folder in path.relative_to(tmp_path).parents[:-1]:
            assert mode(tmp_path / folder) == expected_folder, folder
    leftovers = [p for p in tmp_path.rglob(".*")]
    assert leftovers == []  # no temporary file stays behind


def test_umask_022_gives_0644_and_077_gives_0600_in_a_fresh_process(tmp_path):
    # the real thing, without touching this process's umask: a new interpreter under umask 022 and 077
    script = (
        "import os, sys, stat\n"
        "from pathlib import Path\n"
        "from openmath_kedro.datasets.atomic_write import atomic_path\n"
        "for umask in (0o022, 0o077):\n"
        "    os.umask(umask)\n"
        "    target = Path(sys.argv[1]) / f'{umask:o}' / 'file.txt'\n"
        "    with atomic_path(target) as temporary:\n"
        "        temporary.write_text('x')\n"
        "    print(oct(stat.S_IMODE(target.stat().st_mode)), oct(stat.S_IMODE(target.parent.stat().st_mode)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split("\n")[:2] == ["0o644 0o755", "0o600 0o700"]


def test_umask_is_read_without_proc_too(umask, monkeypatch):
    assert current_umask() == umask and new_file_mode() == 0o666 & ~umask

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(atomic_write, "open", no_proc, raising=False)
    assert current_umask() == umask
    assert current_umask() == umask  # reading it by setting it put it back


def test_failed_write_keeps_the_target_and_leaves_nothing(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="checksum"), atomic_path(target) as temporary:
        temporary.write_text("new")
        raise RuntimeError("checksum mismatch")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_writer_that_replaces_the_temporary_file_still_gets_the_mode(tmp_path, umask):
    target = tmp_path / "t.bin"
    with atomic_path(target) as temporary:
        temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o600)  # as safetensors does
        os.close(fd)
    assert mode(target) == 0o666 & ~umask


class _PrivateWriter:
    """Writes its files 0600, as safetensors does with weights."""

    def save_pretrained(self, path: Path) -> None:
        for name in ("config.json", "model.safetensors"):
            descriptor = os.open(Path(path) / name, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(descriptor, b"{}")
            os.close(descriptor)


def test_checkpoint_folders_are_shared_as_the_umask_says(tmp_path, umask):
    from openmath_kedro.datasets import (
        LoadedModel,
        ModelDirectoryDataset,
        TrainingCheckpointsDataset,
        TrainingRuns,
    )

    ModelDirectoryDataset(path=str(tmp_path / "student")).save(
        LoadedModel(model=_PrivateWriter(), tokenizer=_PrivateWriter(), source={})
    )

    # what a Trainer leaves: a private folder with private weights
    (tmp_path / "checkpoints" / "run" / "checkpoint-1").mkdir(parents=True, mode=0o700)
    _PrivateWriter().save_pretrained(tmp_path / "checkpoints" / "run" / "checkpoint-1")

    TrainingCheckpointsDataset(path=str(tmp_path / "checkpoints")).save(
        TrainingRuns(tmp_path / "checkpoints")
    )
    for root in (tmp_path / "student", tmp_path / "checkpoints"):
        for path in [root, *root.rglob("*")]:
            assert mode(path) == (0o777 if path.is_dir() else 0o666) & ~umask, path
