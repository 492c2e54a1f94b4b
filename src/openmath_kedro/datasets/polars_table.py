"""Polars tables in parquet or JSON Lines files: written atomically, read by path, previewed cheaply."""

from __future__ import annotations

import io
import os
from itertools import islice
from typing import Any

import polars as pl
from kedro.io.core import DatasetError, Version, get_filepath_str
from kedro_datasets._typing import TablePreview
from kedro_datasets.polars import EagerPolarsDataset

from .atomic_write import atomic_path

FORMATS = ("parquet", "ndjson")
PREVIEW_CHARS = 300  # longer texts are shortened in kedro-viz previews


class PolarsTableDataset(EagerPolarsDataset):
    """kedro_datasets' ``polars.EagerPolarsDataset`` for ``parquet`` or ``ndjson`` (JSON Lines) tables of
    millions of solution texts.

    What it changes on a local file: saving writes straight to a temporary file next to the target and renames
    it (readers never see half a table, a failed save keeps the previous one, and no second copy of the file
    is built in memory, as the parent's ``BytesIO`` does); loading hands polars the path (it maps the file
    rather than reading it through a Python file object); an empty ``ndjson`` file, which is what an empty
    table writes, loads as an empty table; the kedro-viz preview reads only the first rows and shortens long
    texts. On a remote fsspec protocol (``s3://``...) saving falls back to the parent's buffered write, which
    is not atomic. ``filepath``, ``load_args``, ``save_args`` (``write_parquet``/``write_ndjson`` options),
    ``versioned:``, ``credentials`` and ``fs_args`` work as for the parent.
    """

    def __init__(  # noqa: PLR0913 - the parent's arguments
        self,
        *,
        filepath: str | os.PathLike[str],
        file_format: str = "parquet",
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if file_format not in FORMATS:
            raise DatasetError(
                f"{filepath}: file_format must be one of {', '.join(FORMATS)}, got {file_format!r}"
            )
        super().__init__(
            filepath=filepath,
            file_format=file_format,
            load_args=load_args,
            save_args=save_args,
            version=version,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )

    def load(self) -> pl.DataFrame:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        read = pl.read_parquet if self._file_format == "parquet" else pl.read_ndjson
        if self._file_format == "ndjson" and self._fs.size(path) == 0:
            return pl.DataFrame()  # polars cannot type an empty JSON Lines file
        if self._protocol == "file":
            return read(path, **self._load_args)
        with self._fs.open(path, **self._fs_open_args_load) as stream:
            return read(stream, **self._load_args)

    def save(self, data: pl.DataFrame) -> None:
        if not isinstance(data, pl.DataFrame):
            raise DatasetError(f"{self._filepath}: expected a polars DataFrame, got {type(data).__name__}")
        if self._protocol != "file":
            # the parent's own save; calling the wrapped one would run Kedro's versioning step a second time
            EagerPolarsDataset.save.__wrapped__(self, data)  # type: ignore[attr-defined]
            return
        with atomic_path(get_filepath_str(self._get_save_path(), self._protocol)) as temporary:
            getattr(data, f"write_{self._file_format}")(temporary, **self._save_args)
        self._invalidate_cache()

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first rows, for kedro-viz (texts longer than 300 characters shortened)."""
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._file_format == "parquet" and self._protocol == "file":
            head = pl.scan_parquet(path).head(nrows).collect()
        else:
            with self._fs.open(path, mode="rb") as stream:
                if self._file_format == "parquet":
                    head = pl.read_parquet(stream, n_rows=nrows)
                else:
                    lines = b"".join(islice(stream, nrows))
                    head = pl.read_ndjson(io.BytesIO(lines)) if lines.strip() else pl.DataFrame()
        shortened = head.with_columns(
            pl.when(pl.col(pl.String).str.len_chars() > PREVIEW_CHARS)
            .then(pl.col(pl.String).str.head(PREVIEW_CHARS - 1) + "…")
            .otherwise(pl.col(pl.String))
        )
        return TablePreview(shortened.to_pandas().to_dict(orient="split"))
