"""The solution format shared by prompts, generation and grading (docs/architecture.md §3)."""

from __future__ import annotations

CODE_START = "<llm-code>"
CODE_END = "</llm-code>"
OUTPUT_START = "<llm-code-output>"
OUTPUT_END = "</llm-code-output>"


def format_code_output(output: str) -> str:
    """The block appended after ``</llm-code>`` once the sandbox has run the code."""
    return f"\n{OUTPUT_START}\n{output.rstrip(chr(10))}\n{OUTPUT_END}\n"
