"""Split a normalized answer into its shape: scalar, tuple/interval, set, list, matrix, union, relation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from openmath_kedro.answers.latex_expression import ExpressionParseError, Node, parse_expression
from openmath_kedro.answers.normalization import MAX_ANSWER_CHARS, NormalizedAnswer

MAX_BRACKET_DEPTH = 40
MAX_ITEMS = 64


class AnswerTooComplex(ValueError):
    """Refused before parsing: nesting or size beyond anything a real answer has."""


@dataclass(frozen=True, slots=True)
class Scalar:
    expr: Node
    percent: bool = False


@dataclass(frozen=True, slots=True)
class Sequence:
    """``(1, 2)``, ``[0, 1)``: ordered; the brackets matter (a tuple or an open vs closed interval)."""

    opening: str
    closing: str
    items: tuple[Form, ...]


@dataclass(frozen=True, slots=True)
class SetOf:
    """``\\{1, 2\\}``: unordered."""

    items: tuple[Form, ...]


@dataclass(frozen=True, slots=True)
class UnorderedList:
    """``1, 2`` or ``x = 1 or x = 2`` or ``1 \\pm \\sqrt 2``: all solutions, in any order."""

    items: tuple[Form, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    rows: tuple[tuple[Form, ...], ...]


@dataclass(frozen=True, slots=True)
class Union:
    parts: tuple[Form, ...]


@dataclass(frozen=True, slots=True)
class Relation:
    lhs: Node
    op: str  # "=", "<", "\\le", "\\ne" (">" and "\\ge" are flipped into "<" and "\\le")
    rhs: Node


@dataclass(frozen=True, slots=True)
class Choice:
    letter: str


@dataclass(frozen=True, slots=True)
class Text:
    key: str


Form = Scalar | Sequence | SetOf | UnorderedList | Matrix | Union | Relation | Choice | Text

_MATRIX = re.compile(
    r"^\\begin\{(?P<env>[pbvBV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?(?P<body>.*)\\end\{(?P=env)\}$",
    re.S,
)
_CHOICE = re.compile(r"^\(([A-Za-z])\)(?:\s.*)?$|^([A-Z])\)(?:\s.*)?$")
_RELATIONS = re.compile(r"\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\ne(?![a-zA-Z])|=|<|>")
_FLIPPED = {">": "<", "\\ge": "\\le"}
_LETTERS_ONLY = re.compile(r"^(?=.*[A-Za-z]{2})[A-Za-z][A-Za-z\s'.\-]*$")
_MATH_WORDS = frozenset({"pi", "inf", "infinity", "oo"})
# Two letters are a product (ab, xy) unless they are one of the words answers actually are.
_TWO_LETTER_WORDS = frozenset("no on in at is it or an as be do go he if me my of so to up us we".split())
_OPENING = "([{"
_CLOSING = ")]}"


def _bracket_depths(text: str) -> list[int]:
    """Depth before each character; raises on nesting no real answer has."""
    depths = []
    depth = 0
    for char in text:
        if char in _CLOSING:
            depth -= 1
        depths.append(depth)
        if char in _OPENING:
            depth += 1
            if depth > MAX_BRACKET_DEPTH:
                raise AnswerTooComplex("brackets nested too deeply")
    return depths


def split_top_level(text: str, separator: re.Pattern[str]) -> list[str]:
    """Split at ``separator`` matches outside any bracket (``(1, 2), (3, 4)`` -> two tuples)."""
    depths = _bracket_depths(text)
    parts = []
    start = 0
    position = 0
    while position < len(text):
        if depths[position] == 0 and text[position] not in _CLOSING:
            match = separator.match(text, position)
            if match and match.end() > position:
                parts.append(text[start:position])
                start = position = match.end()
                continue
        position += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _wrapping_bracket(text: str) -> tuple[str, str] | None:
    """The outer bracket pair when it encloses the whole text (``[0, 1)`` yes, ``(1)(2)`` no)."""
    if len(text) < 2 or text[0] not in "([" or text[-1] not in ")]":
        return None
    depth = 0
    for index, char in enumerate(text):
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
            if depth == 0:
                return (text[0], text[-1]) if index == len(text) - 1 else None
    return None


_COMMA = re.compile(r"\s*[,;]\s*")
_CUP = re.compile(r"\s*\\cup(?![a-zA-Z])\s*")


@lru_cache(maxsize=65_536)
def parse_answer_form(answer: NormalizedAnswer, choice_letters: str = "") -> Form:
    """The shape of a normalized answer (cached by the full normalized answer)."""
    if len(answer.text) > MAX_ANSWER_CHARS:
        raise AnswerTooComplex("answer too long")
    form = _parse_form(answer.text, choice_letters, 0)
    if answer.percent and isinstance(form, Scalar):
        return Scalar(form.expr, percent=True)
    return form


def _parse_items(parts: list[str], choice_letters: str, depth: int) -> tuple[Form, ...]:
    if len(parts) > MAX_ITEMS:
        raise AnswerTooComplex("too many items")
    return tuple(_parse_form(part, choice_letters, depth + 1) for part in parts)


def _parse_form(text: str, choice_letters: str, depth: int) -> Form:
    if depth > 8:
        raise AnswerTooComplex("structure nested too deeply")
    text = text.strip()
    if text in ("\\emptyset", "\\{\\}", "\\{ \\}"):
        return SetOf(())
    matrix = _MATRIX.match(text)
    if matrix:
        rows = [
            row for row in re.split(r"\\\\", matrix.group("body")) if row.strip() and row.strip() != "\\hline"
        ]
        return Matrix(tuple(_parse_items(row.split("&"), choice_letters, depth) for row in rows))

    parts = split_top_level(text, _CUP)
    if len(parts) > 1:
        return Union(_parse_items(parts, choice_letters, depth))

    if text.startswith("\\{") and text.endswith("\\}"):
        inner = text[2:-2].strip()
        return SetOf(_parse_items(split_top_level(inner, _COMMA), choice_letters, depth) if inner else ())

    brackets = _wrapping_bracket(text)
    if brackets:
        items = split_top_level(text[1:-1], _COMMA)
        if len(items) > 1:
            return Sequence(brackets[0], brackets[1], _parse_items(items, choice_letters, depth))
        if text[1:-1].strip().startswith("\\begin"):
            return _parse_form(text[1:-1], choice_letters, depth + 1)  # \left(\begin{array}...\right)

    parts = split_top_level(text, _COMMA)
    if len(parts) > 1:
        return UnorderedList(_parse_items([part for part in parts if part], choice_letters, depth))

    if "\\pm" in text or "\\mp" in text:
        plus = text.replace("\\pm", "+").replace("\\mp", "-")
        minus = text.replace("\\pm", "-").replace("\\mp", "+")
        return UnorderedList(_parse_items([plus, minus], choice_letters, depth))

    sides = split_top_level(text, _RELATIONS)
    if len(sides) > 1:
        return _relation(text, sides)

    choice = _CHOICE.match(text)
    if choice or (choice_letters and len(text) == 1 and text.upper() in choice_letters.upper()):
        return Choice((choice.group(1) or choice.group(2) if choice else text).upper())

    if (
        _LETTERS_ONLY.match(text)
        and text.lower() not in _MATH_WORDS
        and (len(text) > 2 or text.lower() in _TWO_LETTER_WORDS)
    ):
        return Text(" ".join(text.split()))  # "no" is a word, not n*o (which would equal "on")
    try:
        return Scalar(parse_expression(text))
    except (ExpressionParseError, RecursionError):
        return Text(" ".join(text.split()))


def _relation(text: str, sides: list[str]) -> Form:
    if len(sides) != 2 or not sides[0] or not sides[1]:
        return Text(" ".join(text.split()))  # chains (1 < x < 3) and fragments stay text
    op_match = list(_RELATIONS.finditer(text))
    # the relation is the one between the two sides: the first top-level one
    op = next((match.group() for match in op_match if text[: match.start()].strip() == sides[0]), None)
    if op is None:
        return Text(" ".join(text.split()))
    try:
        lhs, rhs = parse_expression(sides[0]), parse_expression(sides[1])
    except (ExpressionParseError, RecursionError):
        return Text(" ".join(text.split()))
    if op in _FLIPPED:
        return Relation(rhs, _FLIPPED[op], lhs)
    return Relation(lhs, op, rhs)
