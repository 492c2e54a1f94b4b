"""math-verify as a differential oracle on the project's own model outputs.

For every generation with a gold answer (graded generations and raw generations under data/07_model_output,
joined on problem_id to data/03_primary/problems/{benchmark}/{split}.jsonl), both graders extract with their
own extraction from the same raw response and grade against the gold; every disagreement is listed for review.
Then the predicted answers are paired with golds of OTHER problems (random pairing, seeded) to hunt false
accepts: any pair either side accepts is listed (a pairing may be right by chance, e.g. two answers of 2).

    .venv/bin/python benchmarks/answers_oracle_on_generations.py [--data data] [--random-pairs 5] [--json OUT]

Read-only on data/. Our side is graded with each benchmark's conventions and also with the unboxed policy
(``UNBOXED_MODEL_OUTPUT``), since the tiny models rarely box; math-verify always extracts its own way.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.answers.math_verify_oracle import math_verify_equivalent  # noqa: E402

from openmath_kedro.answers import (  # noqa: E402
    UNBOXED_MODEL_OUTPUT,
    conventions_for,
    extract_answer,
    grade,
    grade_batch,
)
from openmath_kedro.answers.equivalence import fast_verdict  # noqa: E402


def load_golds(data: Path) -> dict[str, str]:
    """problem_id -> expected_answer over every benchmark and split on disk."""
    golds: dict[str, str] = {}
    for path in sorted((data / "03_primary" / "problems").glob("*/*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row.get("expected_answer") not in (None, ""):
                    golds[row["id"]] = str(row["expected_answer"])
    return golds


def load_generations(data: Path) -> list[dict[str, Any]]:
    """Every generation once (graded tables first; chunks are the same rows as the tables beside them)."""
    output = data / "07_model_output"
    paths = sorted(output.glob("evaluation/*/*/*/graded_generations.jsonl"))
    paths += sorted(output.glob("grading/*/graded_generations.jsonl"))
    paths += sorted(output.glob("generation/*/generations.jsonl"))
    seen: set[tuple[str, str]] = set()
    rows = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a table still being written
                key = (row.get("problem_id", ""), row.get("generation") or "")
                if key in seen or not row.get("generation"):
                    continue
                seen.add(key)
                row["source"] = str(path.relative_to(output))
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--random-pairs", type=int, default=5, help="other problems' golds per prediction")
    parser.add_argument("--json", type=Path, help="write the disagreements here")
    parser.add_argument(
        "--cross", action="store_true", help="also every distinct prediction against every distinct gold"
    )
    parser.add_argument(
        "--symbolic-sample", type=int, default=300, help="cross pairs that need sympy, graded"
    )
    options = parser.parse_args()

    golds = load_golds(options.data)
    rows = [row for row in load_generations(options.data) if row["problem_id"] in golds]
    print(f"{len(rows)} generations with a gold")
    disagreements = []
    counts: Counter[str] = Counter()
    predictions: list[tuple[str, str]] = []  # (extracted answer as the model wrote it, its problem_id)
    for row in rows:
        benchmark = row["problem_id"].split("/")[0]
        gold = golds[row["problem_id"]]
        theirs = math_verify_equivalent(row["generation"], gold, is_full_response=True)
        for policy, conventions in (
            ("benchmark", conventions_for(benchmark)),
            ("unboxed", UNBOXED_MODEL_OUTPUT),
        ):
            answer = extract_answer(row["generation"], conventions=conventions)
            ours = answer is not None and grade(answer, gold, conventions=conventions).equivalent
            counts[f"{policy}: ours {ours} / math-verify {theirs}"] += 1
            if ours != theirs:
                disagreements.append(
                    {
                        "kind": "own gold",
                        "policy": policy,
                        "problem_id": row["problem_id"],
                        "source": row["source"],
                        "answer": answer,
                        "gold": gold,
                        "ours": ours,
                        "math_verify": theirs,
                        "tail": row["generation"][-300:],
                    }
                )
            if policy == "unboxed" and answer is not None:
                predictions.append((answer, row["problem_id"]))

    generator = random.Random(12)
    gold_items = sorted(golds.items())
    random_accepts = []
    random_pairs = 0
    for answer, problem_id in predictions:
        for _ in range(options.random_pairs):
            other_id, other_gold = generator.choice(gold_items)
            if other_id == problem_id:
                continue
            random_pairs += 1
            ours = grade(answer, other_gold, conventions=UNBOXED_MODEL_OUTPUT).equivalent
            theirs = math_verify_equivalent(answer, other_gold, is_full_response=False)
            if ours or theirs:
                random_accepts.append(
                    {
                        "answer": answer,
                        "gold": other_gold,
                        "other_problem": other_id,
                        "ours": ours,
                        "math_verify": theirs,
                    }
                )

    for name, count in sorted(counts.items()):
        print(f"  {name}: {count}")
    print(f"{len(disagreements)} disagreements on own golds")
    for item in disagreements:
        print(json.dumps({key: value for key, value in item.items() if key != "tail"}, ensure_ascii=False))
    print(f"{random_pairs} random pairs, {len(random_accepts)} accepted by either side")
    for item in random_accepts:
        print(json.dumps(item, ensure_ascii=False))
    cross_accepts = cross_hunt(predictions, golds, options.symbolic_sample) if options.cross else []
    if options.json:
        options.json.write_text(
            json.dumps(
                {
                    "disagreements": disagreements,
                    "random_accepts": random_accepts,
                    "cross_accepts": cross_accepts,
                },
                indent=1,
                ensure_ascii=False,
            )
        )


def cross_hunt(
    predictions: list[tuple[str, str]], golds: dict[str, str], symbolic_sample: int
) -> list[dict[str, Any]]:
    """Every distinct prediction against every distinct gold with our fast stages (of the pairs that need sympy,
    a seeded sample); math-verify rechecks only what ours accepts, where a false accept would be.
    Pairs written identically are left out (nothing to learn)."""
    answers = sorted({answer for answer, _ in predictions})
    distinct_golds = sorted(set(golds.values()))
    accepted, needs_symbolic = [], []
    for answer in answers:
        for gold in distinct_golds:
            if answer.strip() == gold.strip():
                continue
            verdict = fast_verdict(answer, gold, UNBOXED_MODEL_OUTPUT)
            if verdict is None:
                needs_symbolic.append((answer, gold))
            elif verdict.equivalent:
                accepted.append((answer, gold, verdict.stage.value))
    print(
        f"cross: {len(answers)} predictions x {len(distinct_golds)} golds, {len(accepted)} accepted by ours, "
        f"{len(needs_symbolic)} need sympy"
    )
    # The sympy stage is slow (a worker per pair): a seeded sample of those pairs
    sample = random.Random(5).sample(needs_symbolic, min(symbolic_sample, len(needs_symbolic)))
    verdicts = grade_batch(sample, conventions=UNBOXED_MODEL_OUTPUT)
    symbolic_accepted = [
        (a, g, v.stage.value) for (a, g), v in zip(sample, verdicts, strict=True) if v.equivalent
    ]
    print(f"cross, sympy sample: {len(sample)} graded, {len(symbolic_accepted)} accepted by ours")
    accepted += symbolic_accepted
    rows = []
    for answer, gold, stage in accepted:
        theirs = math_verify_equivalent(answer, gold, is_full_response=False)
        rows.append({"answer": answer, "gold": gold, "stage": stage, "math_verify": theirs})
        if not theirs:
            print(json.dumps(rows[-1], ensure_ascii=False))
    return rows


if __name__ == "__main__":
    main()
