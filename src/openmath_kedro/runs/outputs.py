"""Print what the project's pipelines have produced so far: ``python -m openmath_kedro.runs.outputs [--env ENV]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from openmath_kedro.runs.provenance import STORE_DIR, ProvenanceStore, expected_keys, source_key

RESULTS_TABLE = "reporting.results.markdown"  # printed after the list: the question the recipe answers
FUNNEL = "filtering.audit.funnel"  # what the training data went through, printed before the results


def describe_outputs(project_path: Path, *, env: str | None = None) -> list[tuple[str, str, str]]:
    """(dataset, location, size) for every persisted output of the default pipeline that exists; the size of an
    output made from other inputs than the current ones (those of ``env``) says so."""
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        catalog = session.load_context().catalog
        graph = pipelines["__default__"]
        store = ProvenanceStore(project_path / STORE_DIR)
        keys = expected_keys(
            graph=graph,
            running=graph,
            source_key=lambda name: source_key(catalog, name, store=store),
            recorded_key=store.key,
        )
        rows = []
        for name in sorted(graph.all_outputs()):
            dataset = catalog.get(name)
            location = _location(dataset)
            if location is None or not location.exists():
                continue
            if location.suffix == ".jsonl":
                with location.open(encoding="utf-8") as stream:
                    size = f"{sum(1 for line in stream if line.strip())} rows"
            else:
                files = [location] if location.is_file() else [f for f in location.rglob("*") if f.is_file()]
                size = _bytes(sum(f.stat().st_size for f in files))
            recorded = store.key(name)
            if recorded is not None and recorded != keys.get(name):
                size += " (stale: made from other inputs; the next run makes it again)"
            rows.append((name, str(location), size))
    return rows


def describe_funnel(funnel: pl.DataFrame) -> list[str]:
    """One line per training set: solutions (and problems) left after each enabled filtering step."""
    lines = []
    for (benchmark,), steps in funnel.sort("benchmark", "position").group_by(
        "benchmark", maintain_order=True
    ):
        enabled = steps.filter(pl.col("enabled"))
        first, last = enabled.row(0, named=True), enabled.row(-1, named=True)
        flow = " -> ".join(f"{row['step']} {row['rows']}" for row in enabled.iter_rows(named=True))
        lines.append(
            f"  {benchmark}: {first['rows']} solutions of {first['problems']} problems generated and graded; "
            f"{last['rows']} kept, covering {last['problems']} problems ({flow})"
        )
    return lines


def _location(dataset: object) -> Path | None:
    """Where a persisted dataset keeps its data (file or folder); None for in-memory ones."""
    for attribute in ("_filepath", "filepath", "_path", "path"):
        value = getattr(dataset, attribute, None)
        if value is not None and not callable(value):
            return Path(str(value))
    return None


def _bytes(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description="What the pipelines have produced so far, then the results.")
    parser.add_argument(
        "--env", help="the Kedro environment whose parameters say what is stale (default: local)"
    )
    rows = describe_outputs(Path.cwd(), env=parser.parse_args().env)
    if not rows:
        print("Nothing produced yet: run `kedro run`.")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print("\nOutputs:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    locations = {name: location for name, location, _ in rows}
    if (funnel := locations.get(FUNNEL)) is not None:
        print("\nTraining data (filtering funnel: solutions left after each step):")
        print("\n".join(describe_funnel(pl.read_parquet(funnel))))
    results = locations.get(RESULTS_TABLE)
    if results is not None:
        print(f"\nResults ({results}):\n")
        print(Path(results).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
