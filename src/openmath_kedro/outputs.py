"""Print what the project's pipelines have produced so far: ``python -m openmath_kedro.outputs``."""

from __future__ import annotations

from pathlib import Path

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from openmath_kedro.datasets import JSONLinesDataset, ModelDirectoryDataset


def describe_outputs(project_path: Path) -> list[tuple[str, str, str]]:
    """(dataset, location, size) for every persisted output of the default pipeline that exists."""
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path) as session:
        catalog = session.load_context().catalog
        rows = []
        for name in sorted(pipelines["__default__"].all_outputs()):
            dataset = catalog.get(name)
            if isinstance(dataset, JSONLinesDataset) and dataset.exists():
                with dataset.filepath.open(encoding="utf-8") as stream:
                    count = sum(1 for line in stream if line.strip())
                rows.append((name, str(dataset.filepath), f"{count} rows"))
            elif isinstance(dataset, ModelDirectoryDataset) and dataset.exists():
                size = sum(f.stat().st_size for f in dataset.path.rglob("*") if f.is_file())
                rows.append((name, str(dataset.path), f"{size / 2**20:.0f} MiB"))
    return rows


def main() -> None:
    rows = describe_outputs(Path.cwd())
    if not rows:
        print("Nothing produced yet: run `kedro run`.")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print("\nOutputs:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
