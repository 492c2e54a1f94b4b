"""Custom statistics (checked, then run in a time-limited process) and the live-streaming engine wrapper."""

from __future__ import annotations

import re

import polars as pl
import pytest

from openmath_kedro.engines.base import Completion, GenerationRequest, SamplingParams
from openmath_kedro.inspector.custom_stats import StatisticError, check_expression, evaluate
from openmath_kedro.inspector.inference import Job, StreamingEngine
from openmath_kedro.inspector.render import math_markdown, split_solution

ROWS = pl.DataFrame(
    {
        "problem_id": ["a", "a", "b"],
        "code_errors": [0, 1, 2],
        "generation": ["x sympy", "y", "sympy z"],
        "tokens_out": [10, 20, 30],
    }
)


def test_a_statistic_per_problem_and_overall():
    result = evaluate(ROWS, '(col("code_errors") > 0).mean()', name="errors")
    assert dict(result.per_problem.sort("problem_id").rows()) == {"a": 0.5, "b": 1.0}
    assert result.overall == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('__import__("os")', "unknown name '__import__'"),
        ('pl.read_csv("/etc/passwd")', "pl.read_csv is not available"),
        ('col("tokens_out").map_elements(print)', ".map_elements is not allowed"),
        ('col("tokens_out").__class__', ".__class__ is not allowed"),
        ("[x for x in range(3)]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ('col("nope").sum()', "no column 'nope'"),
        ("col(name)", "col() takes column names as string constants"),
    ],
)
def test_only_polars_expressions_over_the_columns_are_accepted(expression, message):
    with pytest.raises(StatisticError, match=re.escape(message)):
        check_expression(expression, ROWS.columns)


# A statistic that raises or runs past its time limit: tests/inspector/test_app_in_browser.py (bad input).


class ScriptedEngine:
    """Continues ``prompt`` with the next piece of ``text`` (max_tokens characters), honouring stop strings."""

    name, model = "scripted", "m"

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[GenerationRequest] = []

    def generate(self, requests):
        out = []
        for request in requests:
            self.calls.append(request)
            done = len(request.prompt) - len("P:")
            piece = self.text[done : done + request.sampling.max_tokens]
            for stop in request.sampling.stop:
                if stop in piece:
                    cut = piece.index(stop)
                    out.append(Completion(piece[:cut], "stop", stop_reason=stop, tokens_in=2, tokens_out=cut))
                    break
            else:
                reason = "stop" if done + len(piece) >= len(self.text) else "length"
                out.append(Completion(piece, reason, tokens_in=2, tokens_out=max(1, len(piece))))
        return out

    def close(self) -> None:
        pass


def test_streaming_shows_the_text_as_it_grows_and_keeps_stop_strings_across_chunks():
    engine = ScriptedEngine("print(6 * 7)\n</llm-code>never shown")
    job = Job(id="j", description="test")
    streaming = StreamingEngine(engine, job, tokens_per_update=5)
    (completion,) = streaming.generate(
        [GenerationRequest("P:", SamplingParams(max_tokens=100, stop=("</llm-code>",)))]
    )
    assert completion.text == "print(6 * 7)\n" and completion.stop_reason == "</llm-code>"
    assert len(engine.calls) > 2  # several chunks: the page saw the text grow
    assert job.text == "print(6 * 7)\n</llm-code>"  # as the loop appends it


def test_solutions_split_into_prose_code_and_outputs():
    text = "Let $x=1$.\n<llm-code>\nprint(1)\n</llm-code>\n<llm-code-output>\n1\n</llm-code-output>\nSo \\(x\\) is \\[1.\\]"
    assert split_solution(text) == [
        ("text", "Let $x=1$.\n"),
        ("code", "print(1)"),
        ("output", "1"),
        ("text", "\nSo \\(x\\) is \\[1.\\]"),
    ]
    assert split_solution("<llm-code>\nprint(") == [("code", "print(")]  # unclosed while generating
    assert math_markdown("So \\(x\\) is \\[1.\\]") == "So $x$ is $$1.$$"
    assert math_markdown("The answer is \\boxed{\\frac{1}{2}}.") == "The answer is $\\boxed{\\frac{1}{2}}$."
