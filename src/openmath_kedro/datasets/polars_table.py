"""Polars tables in local parquet or JSON Lines files: written atomically, read by path, previewed cheaply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from .atomic_write import atomic_path

FORMATS = ("parquet", "ndjson")
PREVIEW_CHARS = 300  # longer texts are shortened in kedro-viz previews


class PolarsTableDataset(AbstractDataset[pl.DataFrame, pl.DataFrame]):
    """A polars DataFrame in a local ``parquet`` or ``ndjson`` (JSON Lines) file.

    For tables of millions of solution texts: saving writes straight to a temporary file next to the target
    and renames it (readers never see half a table, a failed save keeps the previous one, and no second copy
    of the file is built in memory, as kedro_datasets' EagerPolarsDataset does); loading reads by path; the
    kedro-viz preview reads only the first rows. ``save_args`` go to ``write_parquet``/``write_ndjson``.
    """

    def __init__(
        self,
        *,
        filepath: str,
        file_format: str = "parquet",
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if file_format not in FORMATS:
            raise DatasetError(
                f"{filepath}: file_format must be one of {', '.join(FORMATS)}, got {file_format!r}"
            )
        self._filepath = Path(filepath)
        self._file_format = file_format
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    @property
    def filepath(self) -> Path:
        return self._filepath

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "file_format": self._file_format,
            "save_args": self._save_args,
        }

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _load(self) -> pl.DataFrame:
        if self._file_format == "parquet":
            return pl.read_parquet(self._filepath)
        if (
            self._filepath.stat().st_size == 0
        ):  # an empty table writes an empty file, which ndjson cannot type
            return pl.DataFrame()
        return pl.read_ndjson(self._filepath)

    def _save(self, data: pl.DataFrame) -> None:
        if not isinstance(data, pl.DataFrame):
            raise DatasetError(f"{self._filepath}: expected a polars DataFrame, got {type(data).__name__}")
        with atomic_path(self._filepath) as temporary:
            if self._file_format == "parquet":
                data.write_parquet(temporary, **self._save_args)
            else:
                data.write_ndjson(temporary, **self._save_args)

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first rows, for kedro-viz (texts longer than 300 characters shortened)."""
        if self._file_format == "parquet":
            head = pl.scan_parquet(self._filepath).head(nrows).collect()
        else:
            head = (
                pl.read_ndjson(self._filepath, n_rows=nrows)
                if self._filepath.stat().st_size
                else pl.DataFrame()
            )
        shortened = head.with_columns(
            pl.when(pl.col(pl.String).str.len_chars() > PREVIEW_CHARS)
            .then(pl.col(pl.String).str.head(PREVIEW_CHARS - 1) + "…")
            .otherwise(pl.col(pl.String))
        )
        return TablePreview(shortened.to_pandas().to_dict(orient="split"))
