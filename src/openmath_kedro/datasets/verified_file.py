"""A raw file pinned by sha256: taken from a local mirror when present, else downloaded."""

from __future__ import annotations

import hashlib
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from .atomic_write import atomic_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawFile:
    """The verified bytes of one raw file and where they came from."""

    name: str  # path relative to the data root, e.g. "gsm8k/test.jsonl": used in error messages
    path: str
    sha256: str
    content: bytes

    def text(self) -> str:
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DatasetError(f"{self.name}: not valid UTF-8 at byte {error.start}") from error


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class VerifiedFileDataset(AbstractDataset[None, RawFile]):
    """Read-only raw file with a pinned sha256.

    On load the file at ``filepath`` is used when it exists; otherwise it is copied from the
    first mirror directory that has ``name`` (e.g. ``../shared/datasets``), otherwise downloaded
    from ``url``. Every source is checked against ``sha256``; a mismatch is an error unless
    ``allow_checksum_mismatch`` is set, which only warns. Copies and downloads are atomic, so
    an interrupted fetch never leaves a partial file at ``filepath``.
    """

    def __init__(
        self,
        *,
        filepath: str,
        name: str,
        url: str,
        sha256: str,
        mirror_dirs: list[str] | None = None,
        allow_checksum_mismatch: bool = False,
        timeout: float = 60.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        self._name = name
        self._url = url
        self._sha256 = sha256.lower()
        self._mirror_dirs = [Path(d) for d in (mirror_dirs or [])]
        self._allow_mismatch = allow_checksum_mismatch
        self._timeout = timeout
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "url": self._url, "sha256": self._sha256}

    def content_key(self) -> str:
        """What the file is, for run provenance: its pinned sha256 (the actual one where mismatches are allowed)."""
        if self._allow_mismatch and self._filepath.is_file():
            return sha256_of(self._filepath)
        return self._sha256

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _save(self, data: None) -> None:
        raise DatasetError(f"{self._name} is a pinned raw file and is read-only")

    def _load(self) -> RawFile:
        if self._filepath.is_file():
            actual = sha256_of(self._filepath)
            self._check_checksum(actual, source=str(self._filepath))
        else:
            actual = self._fetch()
        return RawFile(
            name=self._name, path=str(self._filepath), sha256=actual, content=self._filepath.read_bytes()
        )

    def _check_checksum(self, actual: str, *, source: str) -> None:
        if actual == self._sha256:
            return
        message = (
            f"{self._name}: sha256 of {source} is {actual}, expected {self._sha256} "
            f"(the pinned file from {self._url})."
        )
        if self._allow_mismatch:
            logger.warning("%s Continuing because allow_checksum_mismatch is set.", message)
            return
        raise DatasetError(
            f"{message} The file is truncated, altered or a different version. Delete it to fetch "
            "the pinned file again, or set allow_checksum_mismatch: true for this dataset to use it anyway."
        )

    def _fetch(self) -> str:
        """Copy or download the file into place; return its sha256."""
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        for mirror in self._mirror_dirs:
            candidate = mirror / self._name
            if candidate.is_file():
                actual = self._atomic_write(
                    lambda target, src=candidate: shutil.copyfile(src, target), source=str(candidate)
                )
                logger.info("%s: copied from %s", self._name, candidate)
                return actual
        try:
            actual = self._atomic_write(self._download, source=self._url)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            searched = ", ".join(str(m / self._name) for m in self._mirror_dirs) or "no mirror directories"
            raise DatasetError(
                f"{self._name}: not found locally ({self._filepath}; searched {searched}) and the "
                f"download from {self._url} failed: {error}"
            ) from error
        logger.info("%s: downloaded from %s", self._name, self._url)
        return actual

    def _download(self, target: Path) -> None:
        with urllib.request.urlopen(self._url, timeout=self._timeout) as response, target.open("wb") as out:
            shutil.copyfileobj(response, out)

    def _atomic_write(self, write: Callable[[Path], object], *, source: str) -> str:
        """Write through a temporary file, verify it, then move it into place."""
        with atomic_path(self._filepath) as temporary:
            write(temporary)
            # Verified before the rename, so a bad source never lands at filepath.
            actual = sha256_of(temporary)
            self._check_checksum(actual, source=source)
        return actual
