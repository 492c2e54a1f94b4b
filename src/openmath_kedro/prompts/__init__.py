"""Prompt templates and our own few-shot examples (no Kedro import).

``load_prompt(name, examples=...)`` gives a frozen ``PromptTemplate`` whose ``content_hash`` is recorded
on every generated sample; ``render(problem=..., chat_template=...)`` makes the prompt. See README.md.
"""

from __future__ import annotations

from .errors import PromptError
from .examples import (
    MATH_SUBJECT_SETS,
    ExampleSet,
    FewShotExample,
    available_example_sets,
    load_example_set,
)
from .masking import answer_value, mask_numbers_heuristically, masked_solution_leaks_answer
from .solution_format import CODE_END, CODE_START, OUTPUT_END, OUTPUT_START, format_code_output
from .templates import ChatTemplate, PromptTemplate, available_prompts, load_prompt

__all__ = [
    "CODE_END",
    "CODE_START",
    "MATH_SUBJECT_SETS",
    "OUTPUT_END",
    "OUTPUT_START",
    "ChatTemplate",
    "ExampleSet",
    "FewShotExample",
    "PromptError",
    "PromptTemplate",
    "answer_value",
    "available_example_sets",
    "available_prompts",
    "format_code_output",
    "load_example_set",
    "load_prompt",
    "mask_numbers_heuristically",
    "masked_solution_leaks_answer",
]
