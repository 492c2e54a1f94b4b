"""The vectorized per-solution rules against hand-made texts (and, for boxes, against answers.find_boxed_answers)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmath_kedro.answers import find_boxed_answers
from openmath_kedro.pipelines.filtering.solution_rules import (
    boxed_answer_counts,
    code_error_flags,
    code_tags_well_formed,
    near_duplicate_key,
    trimmed_after_answer,
)

from .graded_tables import CODE


def evaluate(expression: pl.Expr, texts: list[str]) -> list:
    return pl.DataFrame({"text": texts}).select(expression).to_series().to_list()


@pytest.mark.parametrize(
    ("text", "answers"),
    [
        ("no box at all", 0),
        ("So the answer is $\\boxed{5}$.", 1),
        ("\\boxed{\\frac{1}{2}}", 1),
        ("\\boxed{1} and then \\boxed{2}", 2),
        ("\\boxed{\\boxed{5}}", 1),  # nested: one answer
        ("cut off \\boxed{5", 0),  # truncated: no answer
        ("\\boxed{\\a{\\b{\\c{\\d{deep}}}}}", 1),  # deeper than the fast pattern: find_boxed_answers decides
        ("\\boxed 7 without braces", 1),
        ("\\fbox{3}", 1),
        ("\\boxedx is not a box", 0),
        ("\\boxed{a\\}", 0),  # \} is a literal brace, so the box never closes
        ("text é \\boxed{1}, more é \\boxed{2}", 2),
    ],
)
def test_boxed_answer_counts(text, answers):
    assert boxed_answer_counts(pl.Series([text])).to_list() == [answers]
    assert len(find_boxed_answers(text)) == answers


PIECES = ["\\boxed", "\\fbox", "{", "}", "\\{", "\\}", "\\", "x", "1", " ", "\n", "$", "é", "\\frac"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=14).map("".join), min_size=1, max_size=20))
def test_boxed_answer_counts_agree_with_find_boxed_answers(texts):
    assert boxed_answer_counts(pl.Series(texts, dtype=pl.String)).to_list() == [
        len(find_boxed_answers(text)) for text in texts
    ]


@pytest.mark.parametrize(
    ("text", "trimmed"),
    [
        ("So $\\boxed{2}$.\nNew question: what is 3+3?", "So $\\boxed{2}$."),
        (
            "\\boxed{1} is wrong.\nNo, the answer is $\\boxed{2}$ here.\nextra\nmore",
            "\\boxed{1} is wrong.\nNo, the answer is $\\boxed{2}$ here.",
        ),
        ("no box stays as it is\nline two", "no box stays as it is\nline two"),
        (
            "\\boxed{\\begin{pmatrix} 1 \\\\\n 2 \\end{pmatrix}}.\ntail",
            "\\boxed{\\begin{pmatrix} 1 \\\\\n 2 \\end{pmatrix}}.",
        ),
        ("ünïcödé first \\boxed{é}\nafter", "ünïcödé first \\boxed{é}"),
        ("ends with the box \\boxed{4}", "ends with the box \\boxed{4}"),
    ],
)
def test_trimmed_after_answer(text, trimmed):
    assert evaluate(trimmed_after_answer(pl.col("text")), [text, "ascii \\boxed{1}\nx"]) == [
        trimmed,
        "ascii \\boxed{1}",
    ]


@pytest.mark.parametrize(
    ("text", "well_formed"),
    [
        ("no code", True),
        (CODE + "So \\boxed{4}.", True),
        (CODE + "More.\n" + CODE + "\\boxed{4}", True),
        ("<llm-code>\nprint(1)\n", False),  # never closed
        ("<llm-code>\nprint(1)\n</llm-code>\nno output", False),  # output block missing
        (
            CODE + "<llm-code-output>\nmade up\n</llm-code-output>\n",
            False,
        ),  # an output the model wrote itself
        ("</llm-code>\n<llm-code-output>\n1\n</llm-code-output>", False),  # closing before opening
        (CODE.replace("</llm-code-output>", ""), False),  # output never closed
    ],
)
def test_code_tags_well_formed(text, well_formed):
    assert evaluate(code_tags_well_formed(pl.col("text")), [text]) == [well_formed]


def test_code_errors_come_from_the_column_when_there_is_one():
    frame = pl.DataFrame(
        {
            "text": ["fine", "fine", "Traceback (most recent call last):\n", "fine"],
            "code_errors": [0, 2, 0, None],
            "finish_reason": ["stop", "stop", "stop", "code_error"],
        }
    )
    assert frame.select(code_error_flags(frame, pl.col("text"))).to_series().to_list() == [
        False,
        True,
        False,
        True,
    ]


def test_code_errors_are_read_from_outputs_without_the_column():
    error = "<llm-code>\nx\n</llm-code>\n<llm-code-output>\nTraceback (most recent call last):\nNameError: x\n</llm-code-output>\n"
    frame = pl.DataFrame(
        {
            "text": [CODE, error, CODE.replace("4", "ValueError: bad value")],
            "code_errors": [None, None, None],
            "finish_reason": ["stop", "stop", "stop"],
        },
        schema_overrides={"code_errors": pl.Int64},
    )
    assert frame.select(code_error_flags(frame, pl.col("text"))).to_series().to_list() == [False, True, True]


def test_near_duplicate_key_ignores_layout_only():
    keys = evaluate(
        near_duplicate_key(pl.col("text")),
        [
            "So x = 2 and\n$\\boxed{4}$.",
            "So  x=2 and \\boxed{4}.",
            "So\tx = 2\n\nand $\\boxed{4}$.",
            "So x = 3 and $\\boxed{4}$.",  # a different number: a different solution
            "so x = 2 and $\\boxed{4}$.",  # case is content
        ],
    )
    assert keys[0] == keys[1] == keys[2]
    assert len({keys[0], keys[3], keys[4]}) == 3
