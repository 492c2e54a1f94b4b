"""Readers for the raw file formats of the benchmarks: JSON Lines, JSON documents, CSV, ASDiv XML.

Each reader turns a verified raw file into ``SourceRecord``s that remember where they came from,
so every later error can name the file, the line or row, and the field.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openmath_kedro.datasets.verified_file import RawFile


class RawDataError(ValueError):
    """A raw benchmark file does not have the expected content."""

    def __init__(self, *, file: str, location: str | None = None, field: str | None = None, problem: str):
        parts = [file] + ([location] if location else []) + ([f"field '{field}'"] if field else [])
        super().__init__(f"{', '.join(parts)}: {problem}")
        self.file, self.location, self.field = file, location, field


@dataclass(frozen=True)
class SourceRecord:
    """One problem as it appears in a raw file, with its position for error messages."""

    file: str
    location: str  # "line 17", "row 3", "entry 12", "key '54'", "Problem ID=nluds-0001"
    fields: dict[str, Any]

    def get(self, field: str, *, types: type | tuple[type, ...] = str, allow_empty: bool = False) -> Any:
        """The value of a required field, checked for presence, type and emptiness."""
        if field not in self.fields or self.fields[field] is None:
            raise RawDataError(file=self.file, location=self.location, field=field, problem="missing")
        value = self.fields[field]
        if not isinstance(value, types) or isinstance(value, bool) and bool not in _as_tuple(types):
            raise RawDataError(
                file=self.file,
                location=self.location,
                field=field,
                problem=f"expected {_type_names(types)}, got {type(value).__name__} {value!r:.60}",
            )
        if not allow_empty and isinstance(value, str) and not value.strip():
            raise RawDataError(file=self.file, location=self.location, field=field, problem="empty")
        return value

    def error(self, field: str | None, problem: str) -> RawDataError:
        return RawDataError(file=self.file, location=self.location, field=field, problem=problem)


def read_json_lines(raw: RawFile) -> list[SourceRecord]:
    """One JSON object per non-empty line."""
    records = []
    for number, line in enumerate(raw.text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise RawDataError(
                file=raw.name,
                location=f"line {number}",
                problem=f"malformed JSON ({error.msg} at column {error.colno})",
            ) from error
        if not isinstance(value, dict):
            raise RawDataError(
                file=raw.name,
                location=f"line {number}",
                problem=f"expected a JSON object, got {type(value).__name__}",
            )
        records.append(SourceRecord(file=raw.name, location=f"line {number}", fields=value))
    return records


def read_json_document(raw: RawFile) -> list[SourceRecord]:
    """A JSON list of objects (entries numbered from 1) or an object keyed by problem id."""
    try:
        document = json.loads(raw.text())
    except json.JSONDecodeError as error:
        raise RawDataError(
            file=raw.name,
            location=f"line {error.lineno}",
            problem=f"malformed JSON ({error.msg} at column {error.colno})",
        ) from error
    if isinstance(document, list):
        items: Iterable[tuple[str, Any]] = ((f"entry {i}", v) for i, v in enumerate(document, start=1))
    elif isinstance(document, dict):
        items = ((f"key '{k}'", v | {"_key": k} if isinstance(v, dict) else v) for k, v in document.items())
    else:
        raise RawDataError(
            file=raw.name, problem=f"expected a JSON list or object, got {type(document).__name__}"
        )
    records = []
    for location, value in items:
        if not isinstance(value, dict):
            raise RawDataError(file=raw.name, location=location, problem="expected a JSON object")
        records.append(SourceRecord(file=raw.name, location=location, fields=value))
    return records


def read_csv(raw: RawFile, *, required_columns: tuple[str, ...]) -> list[SourceRecord]:
    """A CSV file with a header; rows are numbered from 1 after the header, as spreadsheets show them."""
    reader = csv.DictReader(io.StringIO(raw.text(), newline=""))
    header = reader.fieldnames or []
    missing = [column for column in required_columns if column not in header]
    if missing:
        raise RawDataError(
            file=raw.name,
            location="header",
            field=missing[0],
            problem=f"column missing (header has {', '.join(header) or 'nothing'})",
        )
    records = []
    for number, row in enumerate(reader, start=1):
        location = f"row {number} (line {reader.line_num})"
        if None in row or any(row[column] is None for column in required_columns):
            raise RawDataError(file=raw.name, location=location, problem="wrong number of columns")
        records.append(SourceRecord(file=raw.name, location=location, fields=dict(row)))
    return records


def read_asdiv_xml(raw: RawFile) -> list[SourceRecord]:
    """ASDiv's corpus: ``<Problem ID=... Grade=...>`` elements with Body, Question, Answer, ..."""
    try:
        root = ElementTree.fromstring(raw.content)
    except ElementTree.ParseError as error:
        line, column = error.position
        raise RawDataError(
            file=raw.name, location=f"line {line}", problem=f"malformed XML (column {column})"
        ) from error
    records = []
    for number, problem in enumerate(root.iter("Problem"), start=1):
        problem_id = problem.get("ID")
        location = f"Problem ID={problem_id}" if problem_id else f"Problem #{number}"
        fields: dict[str, Any] = {child.tag: (child.text or "").strip() for child in problem}
        fields.update({f"@{key}": value for key, value in problem.attrib.items()})
        records.append(SourceRecord(file=raw.name, location=location, fields=fields))
    return records


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))
