"""Load the labelled pairs (shared by the tests and the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LABELLED_PAIRS_PATH = Path(__file__).with_name("labelled_pairs.yml")


@dataclass(frozen=True)
class LabelledPair:
    failure_class: str
    index: int
    prediction: str
    gold: str
    equivalent: bool
    conventions: dict[str, Any] = field(default_factory=dict)

    @property
    def is_full_response(self) -> bool:
        return self.failure_class == "extraction"

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
