"""Answer clusters follow the grader's equivalence; no-answer samples are not clustered."""

from __future__ import annotations

from openmath_kedro.answers import AnswerConventions
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
    # within the default rel_tol of 1e-6: 1 ~ 1.0000008 and 1.0000008 ~ 1.0000016, but 1 !~ 1.0000016;
    # each answer is compared with cluster leaders only, so the third answer starts its own cluster
    [labels] = cluster_answers(answers=[["1", "1.0000008", "1.0000016"]])
    assert labels == [0, 0, 1]
    [labels] = cluster_answers(answers=[["1.0000008", "1", "1.0000016"]])
    assert labels == [0, 0, 0]
