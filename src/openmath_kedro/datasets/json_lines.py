"""JSON Lines tables as pandas DataFrames whose nested values stay Python objects."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from itertools import islice
from typing import IO, Any

import pandas as pd
from kedro.io.core import DatasetError, Version, get_filepath_str
from kedro_datasets._typing import TablePreview
from kedro_datasets.pandas import JSONDataset

from .atomic_write import atomic_path
from .polars_table import PREVIEW_CHARS


class JSONLinesDataset(JSONDataset):
    """kedro_datasets' ``pandas.JSONDataset`` for JSON Lines (UTF-8, one object per line), the pandas face of
    the project's JSON Lines tables (``PolarsTableDataset`` with ``file_format: ndjson`` is the polars face of
    the same files; a catalog can name both on one file with Kedro's ``name@pandas``/``name@polars``).

    Why not the parent's ``read_json``/``to_json`` or polars: nested values (``metadata`` dicts, ``sampling``
    params, answers that are sometimes numbers) must come back exactly as they were saved, and polars types
    each column (it turns ``1`` into ``"1"`` beside a string, adds the keys of every row's dict to each
    dict, and its pandas frames hold lists as numpy arrays) while ``to_json`` writes ``/`` as ``\\/`` and
    anything it cannot encode as ``{}``. So lines are read and written with ``json``; a bad line is named by
    number, a missing value is ``null`` (never ``NaN``, which is not JSON) and a value JSON cannot hold fails
    the save. A local save writes a temporary file next to the target and renames it (a crash mid-save keeps
    the previous table); a remote one (``s3://``...) streams to the fsspec file, which is not atomic.
    ``versioned:``, ``credentials`` and ``fs_args`` work as for the parent; there are no ``load_args`` or
    ``save_args``.
    """

    def __init__(
        self,
        *,
        filepath: str | os.PathLike[str],
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=filepath, version=version, credentials=credentials, fs_args=fs_args, metadata=metadata
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    @staticmethod
    def _text_open_args(open_args: dict[str, Any], mode: str) -> dict[str, Any]:
        # fs_args' open_args_load/open_args_save, in text mode: the lines are JSON text
        return {"encoding": "utf-8", **open_args, "mode": mode}

    def load(self) -> pd.DataFrame:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, **self._text_open_args(self._fs_open_args_load, "r")) as stream:
            return pd.DataFrame.from_records(list(_read_records(stream, name=path)))

    def save(self, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DatasetError(f"{self._filepath}: expected a pandas DataFrame, got {type(data).__name__}")
        path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._protocol == "file":
            with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as stream:
                _write_records(data, stream)
        else:
            with self._fs.open(path, **self._text_open_args(self._fs_open_args_save, "w")) as stream:
                _write_records(data, stream)
        self._invalidate_cache()

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first rows, for kedro-viz (nested values as JSON; texts over 300 characters shortened)."""
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, **self._text_open_args(self._fs_open_args_load, "r")) as stream:
            records = list(islice(_read_records(stream, name=path), nrows))
        rows = [{key: _shorten(value) for key, value in record.items()} for record in records]
        return TablePreview(pd.DataFrame.from_records(rows).to_dict(orient="split"))


def _read_records(stream: Iterable[str], *, name: str) -> Iterable[dict[str, Any]]:
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{name}, line {line_number}: invalid JSON ({error.msg})") from error


def _write_records(data: pd.DataFrame, stream: IO[str]) -> None:
    # pandas keeps a missing value as NaN (or pd.NA): those columns become objects holding None, JSON's null
    missing = data.isna()
    columns = {
        name: data[name].astype(object).where(~missing[name], None) if missing[name].any() else data[name]
        for name in data.columns
    }
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_json_default)
    for record in pd.DataFrame(columns, index=data.index).to_dict(orient="records"):
        stream.write(encoder.encode(record))
        stream.write("\n")


def _shorten(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays come out of pandas operations
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
