"""A solution as the page shows it: prose with LaTeX, highlighted code blocks, sandbox outputs as fed back.

The text of a solution interleaves prose, ``<llm-code>...</llm-code>`` blocks and the
``<llm-code-output>...</llm-code-output>`` blocks the code interpreter appended after running them. Prose goes
to ``dcc.Markdown(mathjax=True)``: Dash serves MathJax from its own component bundle (no CDN, works offline).
MathJax there reads ``$...$`` and ``$$...$$`` only, so the ``\\(...\\)`` / ``\\[...\\]`` delimiters of MATH
solutions are rewritten first. Code goes to a fenced Markdown block, which dcc.Markdown highlights with its
bundled highlight.js; outputs are shown verbatim, labelled, in their own box. An unclosed block (a live
generation, a solution cut by its token limit) is shown as far as it goes.
"""

from __future__ import annotations

import re
from typing import Any

from dash import dcc, html

from openmath_kedro.prompts import CODE_END, CODE_START, OUTPUT_END, OUTPUT_START

_BLOCKS = re.compile(
    rf"({re.escape(CODE_START)}.*?(?:{re.escape(CODE_END)}|\Z)|{re.escape(OUTPUT_START)}.*?(?:{re.escape(OUTPUT_END)}|\Z))",
    re.S,
)
_DISPLAY = re.compile(r"\\\[(.+?)\\\]", re.S)
_INLINE = re.compile(r"\\\((.+?)\\\)", re.S)
_ENVIRONMENT = re.compile(
    r"(?<!\$)(\\begin\{(align\*?|equation\*?|gather\*?|eqnarray\*?)\}.*?\\end\{\2\})", re.S
)


def split_solution(text: str) -> list[tuple[str, str]]:
    """[(kind, content)] with kind text, code or output; tags removed, outer newlines of blocks trimmed."""
    segments: list[tuple[str, str]] = []
    position = 0
    for match in _BLOCKS.finditer(text or ""):
        if match.start() > position:
            segments.append(("text", text[position : match.start()]))
        block = match.group(0)
        if block.startswith(OUTPUT_START):
            content = block[len(OUTPUT_START) :].removesuffix(OUTPUT_END)
            segments.append(("output", content.strip("\n")))
        else:
            content = block[len(CODE_START) :].removesuffix(CODE_END)
            segments.append(("code", content.strip("\n")))
        position = match.end()
    if position < len(text or ""):
        segments.append(("text", text[position:]))
    return [(kind, content) for kind, content in segments if kind != "text" or content.strip()]


def math_markdown(text: str) -> str:
    """Markdown whose math MathJax (through dcc.Markdown) renders: \\[..\\] -> $$..$$, \\(..\\) -> $..$.

    In text without any math delimiter, a bare ``\\boxed{..}`` (models often write one) becomes inline math.
    """
    text = _DISPLAY.sub(lambda m: f"$${m.group(1)}$$", text)
    text = _INLINE.sub(lambda m: f"${m.group(1).strip()}$", text)
    text = _ENVIRONMENT.sub(lambda m: f"$${m.group(1)}$$", text)
    if "$" not in text:
        text = _wrap_bare_boxes(text)
    return text


def _wrap_bare_boxes(text: str) -> str:
    out, position = [], 0
    while (start := text.find("\\boxed{", position)) != -1:
        depth, end = 0, None
        for index in range(start + len("\\boxed"), len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                end = index + 1
                break
        if end is None:  # unclosed: leave the rest as it is
            break
        out.append(text[position:start] + "$" + text[start:end] + "$")
        position = end
    out.append(text[position:])
    return "".join(out)


def _fence(code: str) -> str:
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}python\n{code}\n{fence}"


def solution_view(text: str, *, empty: str = "(empty solution)") -> list[Any]:
    """Dash components for one solution."""
    parts: list[Any] = []
    for kind, content in split_solution(text):
        if kind == "text":
            parts.append(dcc.Markdown(math_markdown(content), mathjax=True, className="solution-text"))
        elif kind == "code":
            parts.append(
                html.Div(
                    [
                        html.Div("code", className="block-label"),
                        dcc.Markdown(_fence(content), className="solution-code"),
                    ],
                    className="code-block",
                )
            )
        else:
            parts.append(
                html.Div(
                    [
                        html.Div("sandbox output, as fed back to the model", className="block-label"),
                        html.Pre(content),
                    ],
                    className="sandbox-output",
                )
            )
    return parts or [html.P(empty, className="muted")]


def problem_view(problem: str | None, expected: str | None = None) -> list[Any]:
    parts: list[Any] = [
        dcc.Markdown(math_markdown(problem or "(no problem text in the catalog)"), mathjax=True)
    ]
    if expected:
        parts.append(
            html.Div(
                ["gold answer: ", dcc.Markdown(f"${expected}$", mathjax=True, className="inline-math")],
                className="gold-answer",
            )
        )
    return parts
