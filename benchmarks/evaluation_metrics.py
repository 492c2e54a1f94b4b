"""Grading + answer clustering + metrics for a MATH-sized maj@50 run, against the seed's way; prints JSON.

The run: every MATH test problem (5,000; gold = last \\boxed{} of the reference solution, from
shared/datasets when present, else synthetic) with 50 sampled answers drawn like a model's: the gold in
mixed notations (``\\frac{1}{2}``, ``\\dfrac12``, ``1/2``, ``0.5``, ``x = ...``), a few wrong values, each
also in mixed notations, some samples without an answer, and deliberate exact ties between the right
answer and a wrong one. Every sample's meaning is known by construction, so "truth" is known too.

  ours      grade_batch on every (answer, gold) pair, then ``openmath_kedro.metrics.evaluate_benchmark``
            (answer clusters by the grader's equivalence, maj@k, pass@k, intervals), timed end to end.
  baseline  what the seed did: each pair graded by math-verify (``verify(parse(gold), parse(answer))``),
            majority vote on raw answer strings. math-verify is slow, so it runs on the first
            ``--baseline-problems`` problems and its full-run time is extrapolated (marked in the JSON).

    .venv/bin/python benchmarks/evaluation_metrics.py [--processes 2] [--problems 5000] [--baseline-problems 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openmath_kedro.answers import DeadlinePool, extract_answer, grade_batch  # noqa: E402
from openmath_kedro.answers.symbolic import compare_with_sympy  # noqa: E402
from openmath_kedro.metrics import cluster_answers, evaluate_benchmark, majority_vote  # noqa: E402

DATASETS = [ROOT.parent / "shared" / "datasets", Path("/work/shared/datasets")]
SAMPLES = 50
MAJORITY_KS = (1, 8, 16, 50)
PASS_KS = (1, 8, 50)


# -- gold answers ----------------------------------------------------------------------------------
def load_math_test(limit: int) -> tuple[list[dict], str]:
    for root in DATASETS:
        path = root / "math" / "test.jsonl"
        if path.exists():
            problems = []
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                level = re.fullmatch(r"Level (\d)", record.get("level", ""))
                problems.append(
                    {
                        "id": f"math-{record['idx']}",
                        "expected_answer": extract_answer(record["solution"]),
                        "metadata": {
                            "subject": record["type"],
                            "level": int(level.group(1)) if level else None,
                        },
                    }
                )
            return problems[:limit], "MATH test (shared/datasets/math/test.jsonl)"
    generator = random.Random(0)
    synthetic = []
    for index in range(limit):  # offline stand-in with MATH's mix of integers, fractions and expressions
        kind = generator.random()
        numerator, denominator = generator.randint(1, 99), generator.randint(2, 30)
        gold = (
            str(generator.randint(-50, 2000))
            if kind < 0.6
            else f"\\frac{{{numerator}}}{{{denominator}}}"
            if kind < 0.8
            else f"{numerator}\\sqrt{{{denominator}}}"
        )
        synthetic.append(
            {
                "id": f"synthetic-{index}",
                "expected_answer": gold,
                "metadata": {"subject": "Synthetic", "level": 1 + index % 5},
            }
        )
    return synthetic, "synthetic"


# -- notations of a value --------------------------------------------------------------------------
_FRACTION = re.compile(r"^(-?)\\[dt]?frac\{?(\d+)\}?\{?(\d+)\}?$")


def rational_value(answer: str) -> Fraction | None:
    text = answer.strip().replace("\\!", "").replace("{,}", "")
    if re.fullmatch(r"-?\d+|-?\d*\.\d+", text):
        return Fraction(text)
    match = _FRACTION.match(text)
    if match and int(match.group(3)) != 0:
        return Fraction(int(match.group(2)), int(match.group(3))) * (-1 if match.group(1) else 1)
    return None


def rational_notations(value: Fraction) -> list[str]:
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude.denominator == 1:
        number = str(value)
        forms = [number, number, number, f"{number}.0", f"x = {number}", f"${number}$"]
        if abs(value) >= 1000:
            forms.append(f"{sign}{magnitude.numerator:,}")
        return forms
    p, q = magnitude.numerator, magnitude.denominator
    forms = [
        f"{sign}\\frac{{{p}}}{{{q}}}",
        f"{sign}\\frac{{{p}}}{{{q}}}",
        f"{sign}\\dfrac{{{p}}}{{{q}}}",
        f"{sign}{p}/{q}",
    ]
    if p < 10 and q < 10:
        forms.append(f"{sign}\\frac{p}{q}")
    rest = q
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest == 1:  # terminating decimal
        forms.append(f"{float(value):.10f}".rstrip("0").rstrip("."))
    return forms


def other_notations(answer: str) -> list[str]:
    """Rewrites that keep the meaning (no space or comma edits: ``15,600`` and ``15, 600`` differ)."""
    forms = [answer, answer, answer.replace("\\frac", "\\dfrac"), f"${answer}$"]
    if answer.startswith("(") and answer.endswith(")"):
        forms.append(f"\\left{answer[:-1]}\\right)")
    return forms


def wrong_forms_of(gold: str, generator: random.Random) -> list[list[str]]:
    """A few wrong values of the gold, each in its own mixed notations."""
    value = rational_value(gold)
    if value is not None:
        candidates = {value + 1, value - 1, 2 * value, -value if value else Fraction(3)}
        if abs(value) < 1000:  # beyond, x + 1/2 as a decimal is within the grader's rel_tol of x
            candidates.add(value + Fraction(1, 2))
        candidates.discard(value)
        return [rational_notations(candidate) for candidate in sorted(candidates)]
    digits = [match.start() for match in re.finditer(r"\d", gold)]
    changed = set()
    for position in generator.sample(digits, min(3, len(digits))):
        changed.add(
            gold[:position] + str((int(gold[position]) + generator.randint(1, 8)) % 10) + gold[position + 1 :]
        )
    changed.discard(gold)
    if not changed:  # no digit to change: another choice letter, or a multiple of the expression
        choice = re.search(r"\(([A-E])\)", gold)
        changed = (
            {
                gold.replace(f"({choice.group(1)})", f"({letter})")
                for letter in "ABCDE"
                if letter != choice.group(1)
            }
            if choice
            else {f"2({gold})", f"-({gold})"}
        )
    return [other_notations(answer) for answer in sorted(changed)]


def sample_answers(
    gold: str, level: int, generator: random.Random
) -> tuple[list[str | None], list[int | None]]:
    """50 answers and their meanings (0: the gold's value, i > 0: the i-th wrong value, None: no answer)."""
    value = rational_value(gold)
    gold_forms = [gold, *(rational_notations(value) if value is not None else other_notations(gold))]
    wrong_forms = wrong_forms_of(gold, generator)
    no_answer_rate = generator.choice([0.0, 0.02, 0.05, 0.1, 0.3])
    if generator.random() < 0.05:  # a deliberate exact tie: as many votes for the gold as for one wrong value
        half = (SAMPLES - int(no_answer_rate * SAMPLES)) // 2
        meanings = [0] * half + [1] * half + [None] * (SAMPLES - 2 * half)
        generator.shuffle(meanings)
    else:
        correct_rate = max(0.02, min(0.98, generator.gauss(0.95 - 0.15 * level, 0.2)))
        wrong_weights = [generator.random() ** 2 for _ in wrong_forms]
        meanings = []
        for _ in range(SAMPLES):
            if generator.random() < no_answer_rate:
                meanings.append(None)
            elif generator.random() < correct_rate:
                meanings.append(0)
            else:
                meanings.append(1 + generator.choices(range(len(wrong_forms)), weights=wrong_weights)[0])
    answers = [
        None
        if meaning is None
        else generator.choice(gold_forms if meaning == 0 else wrong_forms[meaning - 1])
        for meaning in meanings
    ]
    return answers, meanings


def truth_majority(meanings: list[int | None], k: int) -> bool:
    return majority_vote(labels=meanings[:k], k=k).winner == 0


# -- the seed's way: math-verify per pair, vote on raw strings -------------------------------------
def math_verify_one(job: tuple[str | None, str]) -> bool:
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    prediction, gold = job
    if prediction is None:
        return False
    try:
        return bool(verify(parse(f"${gold}$"), parse(f"\\boxed{{{prediction}}}")))
    except Exception:  # noqa: BLE001 - a crash is a "no" verdict, as in the seed
        return False


def raw_string_majority(answers: list[str | None], correct: list[bool], k: int) -> bool:
    votes = Counter(answer for answer in answers[:k] if answer is not None)
    if not votes:
        return False
    winner = votes.most_common(1)[0][0]  # ties: the string seen first (Counter keeps insertion order)
    return correct[answers.index(winner)]


# -- main ------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--problems", type=int, default=5000)
    parser.add_argument("--baseline-problems", type=int, default=200)
    options = parser.parse_args()

    problems, golds_from = load_math_test(options.problems)
    generator = random.Random(2024)
    rows, meanings_of = [], {}
    for problem in problems:
        level = problem["metadata"]["level"] or 3
        answers, meanings = sample_answers(problem["expected_answer"], level, generator)
        meanings_of[problem["id"]] = meanings
        rows += [
            {"problem_id": problem["id"], "sample_index": index, "predicted_answer": answer}
            for index, answer in enumerate(answers)
        ]
    generations = pd.DataFrame(rows)
    problems_table = pd.DataFrame(problems)
    gold_of = dict(zip(problems_table["id"], problems_table["expected_answer"], strict=True))
    # from the rows, not the frame: pandas stores a missing answer as NaN
    pairs = [(row["predicted_answer"], gold_of[row["problem_id"]]) for row in rows]

    with DeadlinePool(task=compare_with_sympy, workers=options.processes) as pool:
        pool.map([("1", "1", {})], timeout_s=60)  # workers up before timing, as in a long-running process
        started = time.perf_counter()
        verdicts = grade_batch(pairs, pool=pool)
        graded_s = time.perf_counter() - started
        generations["is_correct"] = [verdict.equivalent for verdict in verdicts]
        evaluation = evaluate_benchmark(
            generations=generations,
            problems=problems_table,
            majority_ks=MAJORITY_KS,
            pass_ks=PASS_KS,
            pool=pool,
        )
        ours_s = time.perf_counter() - started
        # for scale: clustering every answer with cluster_answers alone, without the gold verdicts that let
        # evaluate_benchmark put all correct samples in one cluster (fresh process caches are not cleared)
        started = time.perf_counter()
        all_labels = cluster_answers(
            answers=[
                [row["predicted_answer"] for row in rows[i : i + SAMPLES]]
                for i in range(0, len(rows), SAMPLES)
            ],
            pool=pool,
        )
        cluster_all_s = time.perf_counter() - started
    metrics = evaluation.metrics
    per_problem = evaluation.per_problem.set_index("problem_id")

    # truth from construction, and how often the grader's per-sample verdict matches it
    truth_correct = [meaning == 0 for problem in problems for meaning in meanings_of[problem["id"]]]
    truth_maj = {k: [truth_majority(meanings_of[p["id"]], k) for p in problems] for k in MAJORITY_KS}

    # baseline on a subset
    subset = problems[: options.baseline_problems]
    subset_ids = {problem["id"] for problem in subset}
    subset_rows = [row for row in rows if row["problem_id"] in subset_ids]
    jobs = [(row["predicted_answer"], gold_of[row["problem_id"]]) for row in subset_rows]
    started = time.perf_counter()
    with ProcessPoolExecutor(options.processes) as executor:
        baseline_correct = list(executor.map(math_verify_one, jobs, chunksize=64))
    baseline_pairs_s = time.perf_counter() - started
    baseline_by_problem: dict[str, tuple[list, list]] = {}
    for row, correct in zip(subset_rows, baseline_correct, strict=True):
        answers, marks = baseline_by_problem.setdefault(row["problem_id"], ([], []))
        answers.append(row["predicted_answer"])
        marks.append(correct)
    started = time.perf_counter()
    baseline_maj = {
        k: {problem: raw_string_majority(*baseline_by_problem[problem], k) for problem in baseline_by_problem}
        for k in MAJORITY_KS
    }
    baseline_vote_s = time.perf_counter() - started
    per_pair_s = baseline_pairs_s / len(jobs)

    subset_order = [problem["id"] for problem in subset]
    subset_positions = range(len(subset))
    comparison = {}
    for k in MAJORITY_KS:
        ours_k = [bool(per_problem.loc[problem, f"maj@{k}_correct"]) for problem in subset_order]
        theirs_k = [baseline_maj[k][problem] for problem in subset_order]
        truth_k = [truth_maj[k][position] for position in subset_positions]
        comparison[f"maj@{k}"] = {
            "ours": round(sum(ours_k) / len(subset), 4),
            "baseline": round(sum(theirs_k) / len(subset), 4),
            "truth": round(sum(truth_k) / len(subset), 4),
            "agreement_ours_vs_baseline": round(
                sum(a == b for a, b in zip(ours_k, theirs_k, strict=True)) / len(subset), 4
            ),
            "ours_matches_truth": round(
                sum(a == b for a, b in zip(ours_k, truth_k, strict=True)) / len(subset), 4
            ),
            "baseline_matches_truth": round(
                sum(a == b for a, b in zip(theirs_k, truth_k, strict=True)) / len(subset), 4
            ),
        }
    subset_truth = [t for t, row in zip(truth_correct, rows, strict=True) if row["problem_id"] in subset_ids]

    def rounded(accuracy) -> list[float]:
        return [round(accuracy.value, 4), round(accuracy.low, 4), round(accuracy.high, 4)]

    report = {
        "processes": options.processes,
        "cpu_count": os.cpu_count(),
        "golds": golds_from,
        "problems": len(problems),
        "samples_per_problem": SAMPLES,
        "pairs": len(pairs),
        "no_answer_rate": round(metrics.no_answer_rate, 4),
        f"problems_with_a_maj@{SAMPLES}_tie": int(sum(per_problem[f"maj@{SAMPLES}_tied"])),
        "ours": {
            "seconds_total": round(ours_s, 2),
            "seconds_grading": round(graded_s, 2),
            "seconds_clustering_and_metrics": round(ours_s - graded_s, 2),
            "goal_seconds": 60,
            "meets_goal": ours_s < 60,
            "answer_clusters_per_problem": round(len(evaluation.votes) / len(problems), 2),
            "seconds_cluster_answers_on_all_answers": round(cluster_all_s, 2),
            "clusters_per_problem_cluster_answers_on_all_answers": round(
                sum(len({label for label in labels if label is not None}) for labels in all_labels)
                / len(problems),
                2,
            ),
            "sample_verdicts_match_truth": round(
                sum(a == b for a, b in zip(generations["is_correct"], truth_correct, strict=True))
                / len(pairs),
                5,
            ),
            "metrics_value_low_high": {
                "first_sample": rounded(metrics.first_sample),
                **{f"maj@{k}": rounded(value) for k, value in metrics.majority.items()},
                **{f"pass@{k}": rounded(value) for k, value in metrics.pass_at.items()},
            },
            "truth_maj": {f"maj@{k}": round(sum(v) / len(v), 4) for k, v in truth_maj.items()},
            "maj_matches_truth": {
                f"maj@{k}": round(
                    sum(
                        bool(per_problem.loc[p["id"], f"maj@{k}_correct"]) == t
                        for p, t in zip(problems, truth_maj[k], strict=True)
                    )
                    / len(problems),
                    4,
                )
                for k in MAJORITY_KS
            },
        },
        "baseline_math_verify_raw_string_vote": {
            "problems_run": len(subset),
            "pairs_run": len(jobs),
            "seconds_pairs": round(baseline_pairs_s, 2),
            "seconds_voting": round(baseline_vote_s, 3),
            "pairs_per_second": round(len(jobs) / baseline_pairs_s, 1),
            "seconds_total_extrapolated_to_full_run": round(
                per_pair_s * len(pairs) + baseline_vote_s * len(problems) / len(subset), 1
            ),
            "extrapolated": True,
            "sample_verdicts_match_truth": round(
                sum(a == b for a, b in zip(baseline_correct, subset_truth, strict=True)) / len(jobs), 5
            ),
        },
        "speedup_full_run": round((per_pair_s * len(pairs)) / ours_s, 1),
        "on_baseline_subset": comparison,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
