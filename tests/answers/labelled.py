"""Load the labelled pairs (shared by the tests and the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LABELLED_PAIRS_PATH = Path(__file__).with_name("labelled_pairs.yml")
# Issue 12's cases by class (0-8), written blind before the fixes: DEV is fixed against, TEST is held back.
SPLIT_PATHS = {
    "dev": Path(__file__).with_name("labelled_dev.yml"),
    "test": Path(__file__).with_name("labelled_test.yml"),
}


@dataclass(frozen=True)
class LabelledPair:
    failure_class: str
    index: int
    prediction: str
    gold: str
    equivalent: bool
    conventions: dict[str, Any] = field(default_factory=dict)
    response: bool = False  # the prediction is a whole model response (each grader extracts itself)
    split: str = "regression"  # "regression" (labelled_pairs.yml), "dev" or "test"

    @property
    def is_full_response(self) -> bool:
        return self.response or self.failure_class == "extraction"

    @property
    def test_id(self) -> str:
        return f"{self.failure_class}-{self.index}"


def _expand(side: Any) -> str:
    """Inputs too large to write out: {repeat: TEXT, times: N} or {nest: [A, CORE, B], depth: N}."""
    if isinstance(side, str):
        return side
    if "repeat" in side:
        return str(side["repeat"]) * int(side["times"])
    before, core, after = side["nest"]
    return before * int(side["depth"]) + core + after * int(side["depth"])


def load_labelled_pairs(path: Path = LABELLED_PAIRS_PATH) -> list[LabelledPair]:
    with path.open(encoding="utf-8") as handle:
        classes = yaml.safe_load(handle)
    pairs = []
    for failure_class, rows in classes.items():
        for index, row in enumerate(rows):
            conventions = row[3] if len(row) > 3 else {}
            pairs.append(
                LabelledPair(
                    failure_class, index, _expand(row[0]), _expand(row[1]), bool(row[2]), conventions
                )
            )
    return pairs


def load_split(split: str) -> list[LabelledPair]:
    """The DEV or TEST cases of issue 12. A row is ``[prediction, gold, equivalent]`` or a mapping with
    ``prediction``, ``gold``, ``equivalent`` and optionally ``response`` and ``conventions``."""
    with SPLIT_PATHS[split].open(encoding="utf-8") as handle:
        classes = yaml.safe_load(handle)
    pairs = []
    for failure_class, rows in classes.items():
        for index, row in enumerate(rows):
            if isinstance(row, dict):
                pairs.append(
                    LabelledPair(
                        failure_class,
                        index,
                        str(row["prediction"]),
                        str(row["gold"]),
                        bool(row["equivalent"]),
                        dict(row.get("conventions") or {}),
                        response=bool(row.get("response", False)),
                        split=split,
                    )
                )
            else:
                pairs.append(
                    LabelledPair(failure_class, index, str(row[0]), str(row[1]), bool(row[2]), split=split)
                )
    return pairs
