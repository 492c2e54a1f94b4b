"""Split a normalized answer into its shape: scalar, tuple/interval, set, list, matrix, union, relation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from openmath_kedro.answers.expression_values import EvaluationError, exact_value, has_decimal, symbols_of
from openmath_kedro.answers.latex_expression import ExpressionParseError, Node, Sym, parse_expression
from openmath_kedro.answers.normalization import MAX_ANSWER_CHARS, NormalizedAnswer

MAX_BRACKET_DEPTH = 40
MAX_ITEMS = 64


class AnswerTooComplex(ValueError):
    """Refused before parsing: nesting or size beyond anything a real answer has."""


@dataclass(frozen=True, slots=True)
class Scalar:
    expr: Node
    percent: bool = False
    # written after \approx: equal to any value it rounds to (x \approx 2.24 = \sqrt 5)
    approximate: bool = False


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
    op: str  # "=", "\\approx", "<", "\\le", "\\ne" (">" and "\\ge" are flipped into "<" and "\\le")
    rhs: Node


@dataclass(frozen=True, slots=True)
class Labelled:
    """A value with a label or a derivation in front: ``(a, b) = (3, 4)``, ``\\angle PQR = 40^\\circ``,
    ``\\frac{12}{4} = 3``, ``a + b = 3 + 4 = 7``. It stands for its last side (``value``), which is
    ``approximate`` when the chain has an ``\\approx``."""

    value: Form


@dataclass(frozen=True, slots=True)
class FalseStatement:
    """``90 - 90 = 10``, ``28 - 2 = 20``: an equality between numbers that differ (small models write them).
    It states no value, so it equals no answer but itself (written the same); reading its last side as the
    value accepted ``90-90=10`` for the gold 10."""

    text: str


@dataclass(frozen=True, slots=True)
class Choice:
    letter: str


@dataclass(frozen=True, slots=True)
class Text:
    key: str


Form = (
    Scalar
    | Sequence
    | SetOf
    | UnorderedList
    | Matrix
    | Union
    | Relation
    | Labelled
    | FalseStatement
    | Choice
    | Text
)

_MATRIX = re.compile(
    r"^\\begin\{(?P<env>[pbvBV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?(?P<body>.*)\\end\{(?P=env)\}$",
    re.S,
)
# An option letter, optionally followed by the option's text after a space ("(A) 42"). Text that continues the
# letter as arithmetic ("(E) + 1", "(C) = 3", "(B) \\cdot 2") is an expression of which the letter is one term:
# reading it as the choice made "\\text{(E)}+1" equal "(E)".
_CONTINUES_ARITHMETIC = (
    r"(?:[-+*/^=<>|_!,.;:'&]"
    r"|\\(?:cdot|times|div|pm|mp|le|ge|ne|approx|equiv|sim|cup|cap|setminus)(?![a-zA-Z]))"
)
_CHOICE = re.compile(
    rf"^\(([A-Za-z])\)(?:\s+(?!{_CONTINUES_ARITHMETIC}).*)?$|^([A-Z])\)(?:\s+(?!{_CONTINUES_ARITHMETIC}).*)?$"
)
_RELATIONS = re.compile(r"\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\ne(?![a-zA-Z])|\\approx(?![a-zA-Z])|=|<|>")
_EQUALITIES = frozenset({"=", "\\approx"})
_RATIO = re.compile(r"\s*(?::|\\colon(?![a-zA-Z]))\s*")
_SOLUTIONS = re.compile(r"\s*;\s*")
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


_COMMA = re.compile(r"\s*[,;]\s*")  # inside brackets ";" separates coordinates: (1;2;3)
_CUP = re.compile(r"\s*\\cup(?![a-zA-Z])\s*")


@lru_cache(maxsize=65_536)
def parse_answer_form(answer: NormalizedAnswer, choice_letters: str = "") -> Form:
    """The shape of a normalized answer (cached by the full normalized answer)."""
    if len(answer.text) > MAX_ANSWER_CHARS:
        raise AnswerTooComplex("answer too long")
    form = _parse_form(answer.text, choice_letters, 0, percent=answer.percent)
    if answer.percent and isinstance(form, Scalar):
        return Scalar(form.expr, percent=True)
    return form


def _parse_items(parts: list[str], choice_letters: str, depth: int) -> tuple[Form, ...]:
    if len(parts) > MAX_ITEMS:
        raise AnswerTooComplex("too many items")
    return tuple(_parse_form(part, choice_letters, depth + 1) for part in parts)


def _parse_form(text: str, choice_letters: str, depth: int, *, percent: bool = False) -> Form:
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

    # "a=1, b=2; a=3, b=4": at the top level a semicolon separates whole solutions (inside brackets it
    # separates coordinates, see _COMMA)
    solutions = split_top_level(text, _SOLUTIONS)
    if len(solutions) > 1:
        return UnorderedList(_parse_items([part for part in solutions if part], choice_letters, depth))

    parts = split_top_level(text, _CUP)
    if len(parts) > 1:
        return Union(_parse_items(parts, choice_letters, depth))

    if text.startswith("\\{") and text.endswith("\\}"):
        inner = text[2:-2].strip()
        return SetOf(_parse_items(split_top_level(inner, _COMMA), choice_letters, depth) if inner else ())
    if _wrapping_brace(text):
        # {-7, 7}: set braces written without backslashes (a LaTeX group holds no top-level comma)
        items = split_top_level(text[1:-1], _COMMA)
        if len(items) > 1:
            return SetOf(_parse_items(items, choice_letters, depth))

    brackets = _wrapping_bracket(text)
    if brackets:
        items = split_top_level(text[1:-1], _COMMA)
        if len(items) > 1:
            return Sequence(brackets[0], brackets[1], _parse_items(items, choice_letters, depth))
        if text[1:-1].strip().startswith("\\begin"):
            return _parse_form(text[1:-1], choice_letters, depth + 1)  # \left(\begin{array}...\right)

    parts = split_top_level(text, _COMMA)
    if len(parts) > 1:
        items = _parse_items([part for part in parts if part], choice_letters, depth)
        return _assignments_as_tuple(items) or UnorderedList(items)

    if "\\pm" in text or "\\mp" in text:
        plus = text.replace("\\pm", "+").replace("\\mp", "-")
        minus = text.replace("\\pm", "-").replace("\\mp", "+")
        return UnorderedList(_parse_items([plus, minus], choice_letters, depth))

    sides = split_top_level(text, _RELATIONS)
    if len(sides) > 1:
        return _relation(text, sides, choice_letters, depth, percent=percent)

    ratio = split_top_level(text, _RATIO)
    if len(ratio) > 1 and all(ratio):
        # 2:5 (a ratio) and 08:15 (a clock time, zero-padded by normalization) compare term by term
        return Sequence(":", ":", _parse_items(ratio, choice_letters, depth))

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


def _wrapping_brace(text: str) -> bool:
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return False
    depth = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index == len(text) - 1
    return False


def _assignments_as_tuple(items: tuple[Form, ...]) -> Sequence | None:
    """``x=2, y=3`` (one solution, each variable assigned once) is the tuple ``(2, 3)``, variables in
    alphabetical order as (a, b) and (x, y) are written; ``x=1, x=2`` (two solutions) stays a list."""
    if not all(isinstance(item, Relation) and item.op == "=" and isinstance(item.lhs, Sym) for item in items):
        return None
    names = [item.lhs.name for item in items]  # type: ignore[union-attr]
    if len(set(names)) != len(names):
        return None
    ordered = sorted(items, key=lambda item: item.lhs.name)  # type: ignore[union-attr]
    return Sequence("(", ")", tuple(Scalar(item.rhs) for item in ordered))  # type: ignore[union-attr]


def _relation(text: str, sides: list[str], choice_letters: str, depth: int, *, percent: bool = False) -> Form:
    if not all(sides):
        return Text(" ".join(text.split()))  # fragments ("= 5", "x =") stay text
    ops = [match.group() for match in _RELATIONS.finditer(text) if _at_top_level(text, match.start())]
    if len(ops) != len(sides) - 1:
        return Text(" ".join(text.split()))
    if _equates_different_numbers(sides, ops, percent=percent):
        return FalseStatement(" ".join(text.split()))
    if len(sides) == 2:
        try:
            lhs, rhs = parse_expression(sides[0]), parse_expression(sides[1])
        except (ExpressionParseError, RecursionError):
            pass
        else:
            if ops[0] in _FLIPPED:
                return Relation(rhs, _FLIPPED[ops[0]], lhs)
            return Relation(lhs, ops[0], rhs)
    if not set(ops) <= _EQUALITIES:
        return Text(" ".join(text.split()))  # chains of inequalities (1 < x < 3) stay text
    # A label or a derivation in front of the value: (a, b) = (3, 4), \angle PQR = 40^\circ, 3 + 4 = 7.
    value = _parse_form(sides[-1], choice_letters, depth + 1)
    if isinstance(value, Text | Relation | Labelled):
        return Text(" ".join(text.split()))
    if "\\approx" in ops and isinstance(value, Scalar):
        value = Scalar(value.expr, value.percent, approximate=True)
    return Labelled(value)


def _equates_different_numbers(sides: list[str], ops: list[str], *, percent: bool = False) -> bool:
    """Some ``=`` joins two exact numbers (no variable, no decimal: ``\\frac13 = 0.33`` is a rounding) whose
    values differ; with a percent sign in the answer also as percent readings (``25\\% = \\frac14`` is true)."""
    values: list[Fraction | None] = []
    for side in sides:
        try:
            node = parse_expression(side)
            exact = None if symbols_of(node) or has_decimal(node) else exact_value(node)
        except (ExpressionParseError, RecursionError, EvaluationError):
            exact = None
        values.append(exact)
    return any(
        op == "="
        and first is not None
        and second is not None
        and first != second
        and not (percent and (first == second * 100 or second == first * 100))
        for first, op, second in zip(values, ops, values[1:], strict=False)
    )


def _at_top_level(text: str, position: int) -> bool:
    depth = 0
    for char in text[:position]:
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
    return depth == 0
