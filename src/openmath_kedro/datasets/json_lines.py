"""JSON Lines tables: one record per line, written atomically, with a kedro-viz preview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from .atomic_write import atomic_path


class JSONLinesDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A pandas DataFrame stored as JSON Lines (UTF-8, one object per line).

    Nested values (``metadata`` dicts, ``sampling`` params) round-trip as Python objects. Saving
    writes a temporary file next to the target and renames it, so readers never see a half
    written table and a crash mid-save keeps the previous version.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    @property
    def filepath(self) -> Path:
        return self._filepath

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _load(self) -> pd.DataFrame:
        records = []
        with self._filepath.open(encoding="utf-8") as stream:
            for line_number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DatasetError(
                        f"{self._filepath}, line {line_number}: invalid JSON ({error.msg})"
                    ) from error
        return pd.DataFrame.from_records(records)

    def _save(self, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DatasetError(f"{self._filepath}: expected a pandas DataFrame, got {type(data).__name__}")
        with atomic_path(self._filepath) as temporary, temporary.open("w", encoding="utf-8") as stream:
            for record in data.to_dict(orient="records"):
                record = {key: _missing_to_none(value) for key, value in record.items()}
                stream.write(json.dumps(record, ensure_ascii=False, allow_nan=False, default=_json_default))
                stream.write("\n")

    def preview(self, nrows: int = 5) -> TablePreview:
        """The first rows, for kedro-viz (long texts shortened to keep the panel readable)."""
        rows = []
        with self._filepath.open(encoding="utf-8") as stream:
            for line in stream:
                if len(rows) == nrows:
                    break
                if line.strip():
                    rows.append({key: _shorten(value) for key, value in json.loads(line).items()})
        return TablePreview(pd.DataFrame.from_records(rows).to_dict(orient="split"))


def _shorten(value: Any, limit: int = 300) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing_to_none(value: Any) -> Any:
    # pandas stores a missing string as NaN (or pd.NA); JSON has null for that, and no NaN.
    if value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays come out of pandas operations
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
