"""Answer clusters follow the grader's equivalence; no-answer samples are not clustered."""

from __future__ import annotations

from openmath_kedro.answers import AnswerConventions, is_equivalent
from openmath_kedro.metrics import cluster_answers


def test_equivalent_notations_share_a_cluster():
    answers = ["\\frac{1}{2}", "0.5", "1/2", "\\dfrac12", "3", "\\frac12", "3.0", "\\frac{6}{2}", "0.25"]
    [labels] = cluster_answers(answers=[answers])
    assert labels == [0, 0, 0, 0, 1, 0, 1, 1, 2]


def test_no_answer_gets_no_cluster_and_clusters_number_by_first_appearance():
    [labels] = cluster_answers(answers=[[None, "  ", "x^2+1", None, "1+x^2", "2"]])
    assert labels == [None, None, 0, None, 0, 1]


def test_many_problems_are_clustered_independently():
    clusters = cluster_answers(answers=[["0.5", "1/2"], ["1/2", "2"], [], [None]])
    assert clusters == [[0, 0], [0, 1], [], [None]]


def test_different_answers_stay_apart():
    answers = ["(1,2)", "(2,1)", "[1,2]", "\\{1,2\\}", "\\{2,1\\}", "\\sqrt{2}", "2^{1/2}", "1.414"]
    [labels] = cluster_answers(answers=[answers])
    assert labels[0] != labels[1] != labels[2]  # ordered pairs and intervals keep their order and brackets
    assert labels[3] == labels[4]  # sets are unordered
    assert labels[5] == labels[6] != labels[7]  # 1.414 is not within the relative tolerance of sqrt(2)


def test_conventions_are_used():
    answers = ["Yes", "yes", "YES "]
    [with_text] = cluster_answers(answers=[answers], conventions=AnswerConventions(text_answers=True))
    assert with_text == [0, 0, 0]


def test_leader_rule_when_equivalence_is_not_transitive():
    # with rel_tol 1e-2, 0.33 ~ 1/3 and 1/3 ~ 0.333 (each a rounding of 1/3 within the tolerance), but
    # 0.33 !~ 0.333; each answer is compared with cluster leaders only, so the order decides
    conventions = AnswerConventions(rel_tol=1e-2)
    assert not is_equivalent("0.33", "0.333", conventions=conventions)
    [labels] = cluster_answers(answers=[["0.33", "1/3", "0.333"]], conventions=conventions)
    assert labels == [0, 0, 1]
    [labels] = cluster_answers(answers=[["1/3", "0.33", "0.333"]], conventions=conventions)
    assert labels == [0, 0, 0]
