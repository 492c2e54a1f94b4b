"""The few-shot example sets: real code outputs (run in the sandbox), correct answers, sizes and format."""

from __future__ import annotations

import re

import pytest

from openmath_kedro.answers import extract_answer, grade
from openmath_kedro.prompts import (
    CODE_END,
    CODE_START,
    MATH_SUBJECT_SETS,
    available_example_sets,
    format_code_output,
    load_example_set,
    masked_solution_leaks_answer,
)
from openmath_kedro.sandbox import SandboxConfig, SandboxPool

# code block, then the output block exactly as the generation loop appends it
BLOCK = re.compile(
    rf"{re.escape(CODE_START)}\n(?P<code>.*?)\n{re.escape(CODE_END)}"
    r"\n<llm-code-output>\n(?P<output>.*?)\n</llm-code-output>\n",
    re.S,
)
# (minimum size, minimum number of examples using code)
REQUIRED = {"gsm8k": (5, 4), "math_general": (5, 4)} | {name: (3, 2) for name in MATH_SUBJECT_SETS.values()}
ALL_EXAMPLES = [
    pytest.param(name, index, id=f"{name}-{index}")
    for name in sorted(REQUIRED)
    for index in range(len(load_example_set(name).examples))
]


def code_blocks(solution: str) -> list[re.Match[str]]:
    return list(BLOCK.finditer(solution))


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=2)) as pool:
        yield pool


def test_every_required_set_ships():
    assert set(REQUIRED) == set(available_example_sets())
    assert set(MATH_SUBJECT_SETS) == {
        "Algebra",
        "Counting & Probability",
        "Geometry",
        "Intermediate Algebra",
        "Number Theory",
        "Prealgebra",
        "Precalculus",
    }


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_set_size_and_code_usage(name):
    size, with_code = REQUIRED[name]
    examples = load_example_set(name).examples
    assert len(examples) == size
    assert sum(bool(code_blocks(ex.solution)) for ex in examples) >= with_code
    assert len({ex.problem for ex in examples}) == size


@pytest.mark.parametrize(("name", "index"), ALL_EXAMPLES)
def test_solution_format(name, index):
    solution = load_example_set(name).examples[index].solution
    blocks = code_blocks(solution)
    # every code block is followed by its output block, and nothing else uses the tags
    assert solution.count(CODE_START) == solution.count(CODE_END) == len(blocks)
    assert solution.count("<llm-code-output>") == len(blocks)
    for block in blocks:
        assert solution[block.end(0) - len(format_code_output(block["output"])) : block.end(0)] == (
            format_code_output(block["output"])
        )
    text_before = solution[: blocks[0].start()] if blocks else solution
    assert text_before.strip(), "a solution starts with a short reasoning text"
    # the final answer comes after the last code output, in the closing text
    last_output_end = blocks[-1].end() if blocks else 0
    assert "\\boxed{" not in solution[:last_output_end]
    assert "\\boxed{" in solution.splitlines()[-1]


@pytest.mark.parametrize(("name", "index"), ALL_EXAMPLES)
def test_recorded_outputs_are_real(pool, name, index):
    blocks = code_blocks(load_example_set(name).examples[index].solution)
    with pool.session() as session:  # one namespace per solution, blocks in order
        for block in blocks:
            result = session.execute(block["code"])
            assert result.ok, result.error
            assert result.output.rstrip() == block["output"].rstrip()


@pytest.mark.parametrize(("name", "index"), ALL_EXAMPLES)
def test_answers_are_correct_and_consistent(name, index):
    example = load_example_set(name).examples[index]
    assert grade(extract_answer(example.solution), example.answer).equivalent
    assert example.reference_solution and example.masked_reference_solution
    if name == "gsm8k":  # GSM8K references (as data_preparation keeps them) end with the result, no box
        assert grade(re.findall(r"\d+(?:\.\d+)?", example.reference_solution)[-1], example.answer).equivalent
    else:
        assert grade(extract_answer(example.reference_solution), example.answer).equivalent
    assert not masked_solution_leaks_answer(example.masked_reference_solution, example.answer)
    assert "\\boxed" not in example.masked_reference_solution
