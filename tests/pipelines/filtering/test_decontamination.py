"""Decontamination catches training problems planted among evaluation problems, and only those."""

from __future__ import annotations

import pandas as pd

from openmath_kedro.params import FilteringParams
from openmath_kedro.pipelines.filtering.nodes import collect_evaluation_problems, find_contaminated_problems

from .graded_tables import problems

TRAINING = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
    "How much did she earn?",
    "What is $\\dbinom{8}{4}$?",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. "
    "Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. "
    "How much more money does Betty need to buy the wallet?",
    "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?",
]
UNRELATED = [
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning.",
    "How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?",
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?",
]


def evaluation(*tables: tuple[str, list[str]]) -> pd.DataFrame:
    return collect_evaluation_problems(
        *(
            pd.DataFrame(
                {"id": [f"{name}/test/{i}" for i in range(len(texts))], "benchmark": name, "problem": texts}
            )
            for name, texts in tables
        )
    )


def test_planted_test_problems_are_caught():
    planted = [
        TRAINING[0],  # verbatim
        TRAINING[1].upper().replace("$", "\\$ "),  # other case and math markup: the same normalized text
        TRAINING[3].replace("$15", "$16"),  # one number changed: n-gram overlap
        "Here is a warm-up. " + TRAINING[4],  # the training problem inside a longer one
    ]
    tests = evaluation(("gsm8k", UNRELATED), ("svamp", planted[:2]), ("asdiv", planted[2:]))
    found = find_contaminated_problems(problems(5, "gsm8k", texts=TRAINING), tests, FilteringParams())
    assert found.select("problem_id", "test_id", "match").rows() == [
        ("gsm8k/train/0", "svamp/test/0", "exact"),
        ("gsm8k/train/1", "svamp/test/1", "exact"),
        ("gsm8k/train/3", "asdiv/test/0", "ngram"),
        ("gsm8k/train/4", "asdiv/test/1", "ngram"),
    ]
    assert found.filter(found["match"] == "ngram")["overlap"].min() >= 0.5
    assert found["test_problem"][0] == TRAINING[0] and found["test_benchmark"][2] == "asdiv"


def test_short_problems_match_only_exactly():
    tests = evaluation(("math", ["What is $\\dbinom{8}{4}$?", "What is $\\dbinom{8}{5}$?"]))
    found = find_contaminated_problems(problems(5, "math", texts=TRAINING), tests, FilteringParams())
    assert found.select("problem_id", "test_id", "match").rows() == [("math/train/2", "math/test/0", "exact")]


def test_threshold_and_ngram_size_come_from_parameters():
    half = (
        " ".join(TRAINING[3].split()[:30]) + " and then something else entirely different happens to them all"
    )
    tests = evaluation(("gsm8k", [half]))
    training = problems(5, "gsm8k", texts=TRAINING)
    assert find_contaminated_problems(training, tests, FilteringParams()).height == 1
    strict = FilteringParams(decontamination={"threshold": 0.9})
    assert find_contaminated_problems(training, tests, strict).is_empty()
    disabled = FilteringParams(decontamination={"enabled": False})
    assert find_contaminated_problems(training, evaluation(("gsm8k", TRAINING)), disabled).is_empty()


def test_unrelated_problems_are_not_flagged():
    tests = evaluation(("gsm8k", UNRELATED), ("mawps", ["How many pages does he write?"]))
    assert find_contaminated_problems(
        problems(5, "gsm8k", texts=TRAINING), tests, FilteringParams()
    ).is_empty()
