"""Issue 12's labelled cases (classes 0-8): the DEV split must pass; the TEST split, held back while fixing and
scored once at the end, must keep the figures it scored; math-verify as a differential oracle."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from openmath_kedro.answers import AnswerConventions, grade, grade_responses
from tests.answers.labelled import LabelledPair, load_labelled_pairs, load_split
from tests.answers.math_verify_oracle import math_verify_equivalent

DEV = load_split("dev")
TEST = load_split("test")


def our_verdict(pair: LabelledPair) -> bool:
    conventions = AnswerConventions.from_dict(pair.conventions)
    if pair.is_full_response:
        return grade_responses([pair.prediction], [pair.gold], conventions=conventions)[0].is_correct
    return grade(pair.prediction, pair.gold, conventions=conventions).equivalent


def test_both_splits_cover_every_class_with_true_and_false_pairs() -> None:
    for split in (DEV, TEST):
        labels = Counter((pair.failure_class, pair.equivalent) for pair in split)
        classes = {pair.failure_class for pair in split}
        assert len(classes) == 9
        for failure_class in classes:
            assert labels[(failure_class, True)] >= 1 and labels[(failure_class, False)] >= 1, failure_class
    dev_pairs = {(pair.prediction, pair.gold) for pair in DEV}
    assert not dev_pairs & {(pair.prediction, pair.gold) for pair in TEST}, "the splits must not overlap"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pair", DEV, ids=[pair.test_id for pair in DEV])
def test_dev_pair(pair: LabelledPair) -> None:
    assert our_verdict(pair) is pair.equivalent, (pair.prediction[:200], pair.gold)


# TEST pairs our grader gets wrong at the one scoring (answers-2: none of 136; answers/README.md). A miss found
# later is listed here and reported, not fixed against the split (it would stop measuring anything).
KNOWN_TEST_MISSES: frozenset[tuple[str, str]] = frozenset()
# The TEST split's figures at that scoring (answers-2); they may not go down.
TEST_FLOOR = {"balanced_accuracy": 1.0, "true_negative_rate": 1.0}


def test_the_held_back_test_split_keeps_its_figures() -> None:
    verdicts = [our_verdict(pair) for pair in TEST]
    misses = {
        (pair.prediction, pair.gold)
        for pair, verdict in zip(TEST, verdicts, strict=True)
        if verdict != pair.equivalent
    }
    assert misses <= KNOWN_TEST_MISSES, sorted(misses - KNOWN_TEST_MISSES)
    positives = [verdict for pair, verdict in zip(TEST, verdicts, strict=True) if pair.equivalent]
    negatives = [not verdict for pair, verdict in zip(TEST, verdicts, strict=True) if not pair.equivalent]
    true_negative_rate = sum(negatives) / len(negatives)
    balanced_accuracy = (sum(positives) / len(positives) + true_negative_rate) / 2
    assert balanced_accuracy >= TEST_FLOOR["balanced_accuracy"] - 1e-9
    assert true_negative_rate >= TEST_FLOOR["true_negative_rate"] - 1e-9


def _key(prediction: str, gold: str, conventions: dict) -> tuple[str, str, str]:
    return prediction, gold, json.dumps(conventions, sort_keys=True)  # the same pair may differ by conventions


def _math500_reference_pairs(shared_datasets: Path) -> list[tuple[str, str, bool | None]]:
    """Real text: each MATH-500 reference solution against its own gold (equivalent by construction) and
    against the next problem's gold (unlabelled: a disagreement there must be reviewed into a labelled set)."""
    rows = [json.loads(line) for line in (shared_datasets / "math" / "math-500" / "test.jsonl").open()]
    solutions, golds = [row["solution"] for row in rows], [row["answer"] for row in rows]
    own = [(solution, gold, True) for solution, gold in zip(solutions, golds, strict=True)]
    shifted = [(solutions[index], golds[(index + 1) % len(golds)], None) for index in range(len(rows))]
    return own + shifted


@pytest.mark.timeout(600)
def test_math_verify_as_differential_oracle(shared_datasets: Path) -> None:
    """Ours and math-verify on the labelled cases and on real reference solutions: every disagreement must be
    a reviewed, labelled case that ours gets right (or a known TEST miss)."""
    labelled = load_labelled_pairs() + DEV + TEST
    reviewed = {_key(pair.prediction, pair.gold, pair.conventions): pair.equivalent for pair in labelled}
    corpus = [
        (pair.prediction, pair.gold, pair.equivalent, pair.conventions, pair.is_full_response)
        for pair in labelled
        if pair.failure_class != "pathological"
    ]  # inputs built to exhaust a parser: math-verify's takes minutes
    corpus += [
        (solution, gold, label, {}, True)
        for solution, gold, label in _math500_reference_pairs(shared_datasets)
    ]
    problems = []
    for prediction, gold, label, conventions, is_full_response in corpus:
        pair = LabelledPair(
            "oracle", 0, prediction, gold, bool(label), conventions, response=is_full_response
        )
        ours = our_verdict(pair)
        theirs = math_verify_equivalent(prediction, gold, is_full_response=is_full_response)
        if ours == theirs:
            continue
        known = reviewed.get(_key(prediction, gold, conventions), label)
        if known is None:
            problems.append(("unreviewed disagreement", prediction[-200:], gold, ours, theirs))
        elif ours != known and (prediction, gold) not in KNOWN_TEST_MISSES:
            problems.append(("math-verify is right", prediction[-200:], gold, ours, theirs))
    assert not problems, problems
