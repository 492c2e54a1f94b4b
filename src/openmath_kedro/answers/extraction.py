"""Find the final answer in a full response: boxed answers first, configured fallbacks after."""

from __future__ import annotations

import re

from openmath_kedro.answers.conventions import MODEL_OUTPUT, AnswerConventions, BoxPolicy

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
# "\boxed 5" (no braces): LaTeX takes one token; models write a number or a short word.
_UNBRACED_ARGUMENT = re.compile(r"\s*([^\s${}\\]+|\\[a-zA-Z]+)")
_GSM8K_HASH = re.compile(r"####\s*([^\n]+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*(.+?)\s*(?:\.\s*)?$", re.IGNORECASE | re.MULTILINE
)
# The marker of an answer statement; its content follows (spaces, colons and markdown bold skipped).
_FINAL_ANSWER_MARKER = re.compile(
    r"(?:\bfinal\s+answer\b(?:\s*(?:is\b|:))?|\banswer\s*(?:is\b|:)|\bresult\s+is\b)[\s:*]*", re.IGNORECASE
)
_PARAGRAPH_END = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"^(.*?)(?:\.(?:\s|$)|\n|$)", re.DOTALL)
# Display and inline math: $$...$$, \[...\], \(...\), $...$ (not an escaped \$ sign)
_MATH_SPAN = re.compile(
    r"(?<!\\)\$\$(?P<display>.+?)(?<!\\)\$\$|\\\[(?P<bracket>.+?)\\\]|\\\((?P<paren>.+?)\\\)"
    r"|(?<!\\)\$(?P<inline>[^$]+?)(?<!\\)\$",
    re.DOTALL,
)
_MAX_STATEMENT_CHARS = 2_000  # an answer statement is read this far (guards the regexes on huge inputs)
_MAX_NESTED_BOXES = 8  # \boxed{\boxed{...}} nested deeper than this is garbage; the guards refuse it
_LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def matching_braces(text: str) -> dict[int, int]:
    """Map each ``{`` to its closing ``}`` in one linear pass (iterative: any nesting depth is fine)."""
    matches: dict[int, int] = {}
    stack: list[int] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2  # \{ and \} are literal braces, not grouping
            continue
        if char == "{":
            stack.append(index)
        elif char == "}" and stack:
            matches[stack.pop()] = index
        index += 1
    return matches


def find_boxed_answers(text: str) -> list[str]:
    """Contents of every outermost ``\\boxed{...}``/``\\fbox{...}``/``\\boxed 5``, in order."""
    answers: list[str] = []
    braces: dict[int, int] | None = None
    resume_at = 0
    for match in _BOX_COMMAND.finditer(text):
        if match.start() < resume_at:
            continue  # a box inside a box: the outer one is the answer
        after = match.end()
        while after < len(text) and text[after] in " \t\n":
            after += 1
        if after < len(text) and text[after] == "{":
            braces = matching_braces(text) if braces is None else braces
            closing = braces.get(after)
            if closing is None:
                continue  # truncated generation: an unclosed box is not an answer
            content = text[after + 1 : closing]
            resume_at = closing + 1
        else:
            unbraced = _UNBRACED_ARGUMENT.match(text, after)
            if unbraced is None:
                continue
            content = unbraced.group(1)
            resume_at = unbraced.end()
        answers.append(_unwrap_whole_box(content.strip()))
    return answers


def _unwrap_whole_box(content: str) -> str:
    """``\\boxed{\\boxed{5}}`` -> ``5``; iterative so deep nesting cannot exhaust the stack."""
    for _ in range(_MAX_NESTED_BOXES):
        inner = _BOX_COMMAND.match(content)
        if inner is None:
            break
        rest = content[inner.end() :].lstrip()
        if not rest.startswith("{"):
            break
        closing = matching_braces(rest).get(0)
        if closing != len(rest) - 1:
            break
        content = rest[1:-1].strip()
    return content


def extract_boxed_answer(text: str, *, policy: BoxPolicy = "last") -> str | None:
    """The boxed answer of ``text`` under ``policy``, or None when there is none."""
    answers = [answer for answer in find_boxed_answers(text) if answer]
    if not answers:
        return None
    if policy == "last":
        return answers[-1]
    if policy == "first":
        return answers[0]
    distinct = list(dict.fromkeys(answers))
    if policy == "unique":
        return distinct[0] if len(distinct) == 1 else None
    return ", ".join(distinct)  # join


def _fallback_answer(text: str, name: str) -> str | None:
    if name == "gsm8k_hash":
        matches = _GSM8K_HASH.findall(text)
        return matches[-1] if matches else None
    if name == "answer_is":
        matches = _ANSWER_IS.findall(text)
        return matches[-1].strip().strip("$").strip() if matches else None
    if name == "final_answer":
        return _final_answer_statement(text)
    if name == "last_math":
        spans = [_span_content(match) for match in _MATH_SPAN.finditer(text)]
        spans = [span for span in spans if span]
        return spans[-1] if spans else None
    if name == "last_number":
        matches = _LAST_NUMBER.findall(text)
        return matches[-1] if matches else None
    raise ValueError(f"unknown fallback {name!r}")


def _span_content(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None).strip()


def _final_answer_statement(text: str) -> str | None:
    """The content of the last answer statement that has one: its first math span, else its first sentence."""
    for marker in reversed(list(_FINAL_ANSWER_MARKER.finditer(text))):
        rest = text[marker.end() : marker.end() + _MAX_STATEMENT_CHARS]
        paragraph = _PARAGRAPH_END.split(rest, maxsplit=1)[0]
        math = _MATH_SPAN.search(paragraph)
        first_line_end = paragraph.find("\n")
        if math and (
            first_line_end < 0 or math.start() < first_line_end or not paragraph[:first_line_end].strip()
        ):
            content = _span_content(math)
        else:
            sentence = _SENTENCE.match(paragraph)
            content = sentence.group(1).strip().strip("*").strip() if sentence else ""
        if content:
            return content
    return None


def extract_answer(text: str | None, *, conventions: AnswerConventions = MODEL_OUTPUT) -> str | None:
    """The final answer of a response, or None ("no answer" is a result, not an error)."""
    if not text:
        return None
    boxed = extract_boxed_answer(text, policy=conventions.box_policy)
    if boxed is not None:
        return boxed
    for name in conventions.fallbacks:
        answer = _fallback_answer(text, name)
        if answer:
            return answer
    return None
