"""Load and save speed of the JSON Lines datasets before and after they became kedro_datasets subclasses.

A graded-generations-shaped table (``--rows``, default 100,000: ids, sample indices, solution texts of
50-300 words, answers with missing values, a correctness flag, a nested ``metadata`` dict with a list inside)
is saved and loaded, in the same run, by:

- ``JSONLinesDataset`` (pandas face) as it was at ``--baseline`` (the hand-written AbstractDataset, read from
  git) and as it is now (a ``pandas.JSONDataset`` subclass, with a column-wise missing-value pass before
  writing);
- ``PolarsTableDataset`` with ``file_format: ndjson`` (polars face) at ``--baseline`` and now (an
  ``EagerPolarsDataset`` subclass), with the parent ``EagerPolarsDataset`` itself (its BytesIO write) beside.

Each figure is the median of ``--repeats`` runs in seconds; the loaded tables are checked equal to what was
saved (the pandas faces: every value, nested ones included). Old and new must write the same bytes.

    .venv/bin/python benchmarks/json_lines_datasets.py [--rows 100000] [--repeats 3] [--baseline a8dac7a]

Prints one JSON object. Figures on this project's 2-core machine (100,000 rows, 80.6 MB; load average 7-8 from
other jobs, so differences under about a third are noise): JSONLinesDataset old save 4.71 s / load 5.78 s, new
4.58 s / 5.86 s, same bytes; PolarsTableDataset ndjson old 0.81 s / 0.79 s, new 1.15 s / 1.00 s, the parent
EagerPolarsDataset 0.71 s / 1.10 s, same bytes. The subclasses cost nothing measurable; what the direct write
saves is memory (no file-sized buffer), not time. All round trips equal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kedro_datasets.polars import EagerPolarsDataset  # noqa: E402

from openmath_kedro.datasets import JSONLinesDataset  # noqa: E402
from openmath_kedro.datasets.polars_table import PolarsTableDataset  # noqa: E402

WORDS = "the of a to in is that for it as with was on be by this are x = print ( ) 42 \\frac{1}{2}".split()


def make_table(rows: int) -> pd.DataFrame:
    rng = random.Random(0)
    return pd.DataFrame(
        {
            "problem_id": [f"math/train/{i // 8}" for i in range(rows)],
            "sample_index": [i % 8 for i in range(rows)],
            "generation": [" ".join(rng.choices(WORDS, k=rng.randint(50, 300))) for _ in range(rows)],
            "predicted_answer": [None if i % 5 == 0 else str(i % 97) for i in range(rows)],
            "is_correct": [i % 3 == 0 for i in range(rows)],
            "metadata": [
                {"level": i % 5 + 1, "subject": rng.choice(["Algebra", "Geometry"]), "stop": ["\nQuestion:"]}
                for i in range(rows)
            ],
        }
    )


def baseline_module(commit: str, path: str) -> ModuleType:
    """The module as it was at ``commit``, imported inside openmath_kedro.datasets (its relative imports)."""
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    name = f"openmath_kedro.datasets._baseline_{Path(path).stem}"
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    module.__package__ = "openmath_kedro.datasets"
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own file, from git
    return module


def median_seconds(action: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 2), result


def measure(dataset, table, repeats: int, *, equal: Callable[[object, object], bool]) -> dict:
    save_s, _ = median_seconds(lambda: dataset.save(table), repeats)
    load_s, loaded = median_seconds(dataset.load, repeats)
    return {"save_s": save_s, "load_s": load_s, "round_trip_equal": bool(equal(loaded, table))}


def pandas_equal(loaded: pd.DataFrame, table: pd.DataFrame) -> bool:
    # every value, nested ones included; a missing value compares as None (NaN is not equal to itself)
    def values(frame: pd.DataFrame) -> dict[str, list]:
        return frame.astype(object).where(frame.notna(), None).to_dict("list")

    return values(loaded) == values(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="a8dac7a", help="the commit of the datasets before the change")
    args = parser.parse_args()

    old_json_lines = baseline_module(args.baseline, "src/openmath_kedro/datasets/json_lines.py")
    old_polars_table = baseline_module(args.baseline, "src/openmath_kedro/datasets/polars_table.py")
    table = make_table(args.rows)
    frame = pl.from_pandas(table)
    results: dict[str, object] = {"rows": args.rows, "repeats": args.repeats, "baseline": args.baseline}
    with tempfile.TemporaryDirectory() as folder:
        old, new = Path(folder, "old.jsonl"), Path(folder, "new.jsonl")
        results["JSONLinesDataset (pandas)"] = {
            "old": measure(
                old_json_lines.JSONLinesDataset(filepath=str(old)), table, args.repeats, equal=pandas_equal
            ),
            "new": measure(JSONLinesDataset(filepath=str(new)), table, args.repeats, equal=pandas_equal),
            "same_bytes": old.read_bytes() == new.read_bytes(),
            "file_mb": round(new.stat().st_size / 2**20, 1),
        }
        polars_equal = pl.DataFrame.equals
        old_polars = old_polars_table.PolarsTableDataset(filepath=str(old), file_format="ndjson")
        results["PolarsTableDataset ndjson (polars)"] = {
            "old": measure(old_polars, frame, args.repeats, equal=polars_equal),
            "new": measure(
                PolarsTableDataset(filepath=str(new), file_format="ndjson"),
                frame,
                args.repeats,
                equal=polars_equal,
            ),
            "EagerPolarsDataset": measure(
                EagerPolarsDataset(filepath=str(Path(folder, "eager.jsonl")), file_format="ndjson"),
                frame,
                args.repeats,
                equal=polars_equal,
            ),
            "same_bytes": old.read_bytes() == new.read_bytes(),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
