"""Pinned raw files: mirrors, downloads, checksum errors, and no partial files left behind."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from kedro.io import DatasetError

from openmath_kedro.datasets import VerifiedFileDataset

GOOD = b'{"question": "1+1?", "answer": "#### 2"}\n'
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


def dataset(tmp_path: Path, **overrides) -> VerifiedFileDataset:
    arguments = {
        "filepath": str(tmp_path / "raw" / "gsm8k" / "test.jsonl"),
        "name": "gsm8k/test.jsonl",
        "url": (tmp_path / "server" / "test.jsonl").as_uri(),
        "sha256": GOOD_SHA,
        "mirror_dirs": [str(tmp_path / "mirror")],
    }
    return VerifiedFileDataset(**arguments | overrides)


def put(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_copied_from_the_mirror_and_verified(tmp_path):
    put(tmp_path / "mirror" / "gsm8k" / "test.jsonl", GOOD)
    raw = dataset(tmp_path).load()
    assert raw.content == GOOD and raw.sha256 == GOOD_SHA and raw.name == "gsm8k/test.jsonl"
    assert (tmp_path / "raw" / "gsm8k" / "test.jsonl").read_bytes() == GOOD


def test_downloaded_when_no_mirror_has_it(tmp_path):
    put(tmp_path / "server" / "test.jsonl", GOOD)
    assert dataset(tmp_path).load().content == GOOD
    assert (tmp_path / "raw" / "gsm8k" / "test.jsonl").is_file()


def test_truncated_local_file_is_an_error(tmp_path):
    put(tmp_path / "raw" / "gsm8k" / "test.jsonl", GOOD[:20])
    with pytest.raises(
        DatasetError,
        match=r"gsm8k/test\.jsonl: sha256 of .*raw/gsm8k/test\.jsonl is [0-9a-f]{64}, expected " + GOOD_SHA,
    ):
        dataset(tmp_path).load()


def test_altered_mirror_file_is_an_error_and_is_not_copied(tmp_path):
    altered = put(tmp_path / "mirror" / "gsm8k" / "test.jsonl", GOOD.replace(b"2", b"3"))
    with pytest.raises(
        DatasetError, match=rf"sha256 of {altered} is .* truncated, altered or a different version"
    ):
        dataset(tmp_path).load()
    target_dir = tmp_path / "raw" / "gsm8k"
    assert list(target_dir.iterdir()) == []  # neither the bad file nor a temporary one


def test_altered_download_is_not_kept(tmp_path):
    put(tmp_path / "server" / "test.jsonl", b"<html>rate limited</html>")
    with pytest.raises(DatasetError, match=r"sha256 of file://.*server/test\.jsonl is"):
        dataset(tmp_path).load()
    assert list((tmp_path / "raw" / "gsm8k").iterdir()) == []


def test_mismatch_can_be_allowed_explicitly(tmp_path, caplog):
    put(tmp_path / "mirror" / "gsm8k" / "test.jsonl", GOOD + GOOD)
    with caplog.at_level(logging.WARNING):
        raw = dataset(tmp_path, allow_checksum_mismatch=True).load()
    assert raw.content == GOOD + GOOD
    assert "Continuing because allow_checksum_mismatch is set" in caplog.text


def test_missing_everywhere_names_mirrors_and_url(tmp_path):
    with pytest.raises(
        DatasetError,
        match=r"gsm8k/test\.jsonl: not found locally .*searched .*mirror/gsm8k/test\.jsonl\) and the download from file://.*failed",
    ):
        dataset(tmp_path).load()


def test_raw_files_are_read_only(tmp_path):
    with pytest.raises(DatasetError, match="pinned raw file and is read-only"):
        dataset(tmp_path).save(b"new content")
