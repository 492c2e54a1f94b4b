"""Staged equivalence of two extracted answers, cheapest stage first.

exact text -> word answers / choice letters -> rational values (exact; decimals with tolerance; percent
readings) -> constant values at 50 digits (radicals, pi, logs) -> structures (tuples, intervals, sets, lists,
matrices, unions) -> expressions with variables at seeded random points -> equations as equations -> sympy.

Everything here but the sympy stage is pure Python and bounded by guards; a pair that needs sympy raises
``NeedsSymbolic`` in the parent and is re-run with ``symbolic_check`` in a worker process (hard deadline).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from openmath_kedro.answers.answer_forms import (
    AnswerTooComplex,
    Choice,
    Form,
    Labelled,
    Matrix,
    Relation,
    Scalar,
    Sequence,
    SetOf,
    Text,
    Union,
    UnorderedList,
    parse_answer_form,
)
from openmath_kedro.answers.conventions import MODEL_OUTPUT, AnswerConventions
from openmath_kedro.answers.expression_values import (
    EvaluationError,
    ValueTooLarge,
    approximate,
    contains_infinity,
    decimal_literals,
    exact_value,
    has_decimal,
    symbols_of,
)
from openmath_kedro.answers.latex_expression import Add, Const, Mul, Neg, Node, Num, Pow, Sym
from openmath_kedro.answers.normalization import MAX_ANSWER_CHARS, normalize_answer
from openmath_kedro.answers.verdict import Stage, Verdict, different, equivalent, refused

SymbolicCheck = Callable[[Node, Node, str], bool]
"""``(a, b, kind)``: kind ``equal`` (a = b) or ``proportional`` (a = c * b for a constant c != 0)."""
LatexCheck = Callable[[str, str], bool]
"""``(a, b)``: two normalized answers compared by a maintained LaTeX parser (``latex2sympy2_extended``), for
the pairs where this package's parser cannot read a side (worker processes only)."""

EXACT_TOLERANCE = 1e-30  # 50-digit values closer than this are equal (no real answer pair is that close)
DIFFERENT_TOLERANCE = 1e-12  # farther than this is different; in between, sympy decides
RANDOM_POINTS = 4
_WORDY = re.compile(r"[a-zA-Z]{2,}")


class NeedsSymbolic(Exception):
    """Only the sympy stage can decide this pair (raised in the parent, never in a worker)."""


@dataclass(frozen=True, slots=True)
class Decision:
    equal: bool
    stage: Stage


def compare_answers(
    prediction: str,
    gold: str,
    *,
    conventions: AnswerConventions = MODEL_OUTPUT,
    symbolic_check: SymbolicCheck | None = None,
    latex_check: LatexCheck | None = None,
) -> Verdict:
    """The verdict for two extracted answers; raises ``NeedsSymbolic`` when only sympy can decide and
    ``symbolic_check`` is None (the caller then sends the pair to a worker process)."""
    predicted, expected = normalize_answer(prediction), normalize_answer(gold)
    if predicted.text == expected.text and predicted.text:
        return equivalent(Stage.EXACT)
    # An answer past MAX_ANSWER_CHARS has no text key (normalize_answer): only the exact text above matches it.
    if (
        conventions.text_answers
        and predicted.text_key
        and predicted.text_key == expected.text_key
        and _WORDY.search(predicted.text_key)
    ):
        return equivalent(Stage.TEXT)
    if len(predicted.text) > MAX_ANSWER_CHARS or len(expected.text) > MAX_ANSWER_CHARS:
        return refused(Stage.GUARD, "answer too long")
    try:
        predicted_form = parse_answer_form(predicted, conventions.choice_letters)
        expected_form = parse_answer_form(expected, conventions.choice_letters)
        if predicted_form == expected_form:
            return equivalent(
                Stage.EXACT
            )  # the same tree written differently: no value needed (10^{ 10^{10} })
        decision = FormComparer(conventions, symbolic_check).forms(predicted_form, expected_form)
        if not decision.equal and _unread_math(predicted_form, expected_form):
            # Hybrid: our parser could not read a side (an unsupported command such as \sum or
            # \int); latex2sympy2_extended decides in a worker process (it is ~1000x slower than our stages).
            if latex_check is None:
                raise NeedsSymbolic
            decision = Decision(latex_check(predicted.text, expected.text), Stage.SYMBOLIC)
    except AnswerTooComplex as error:
        return refused(Stage.GUARD, str(error))
    except ValueTooLarge as error:
        return refused(Stage.GUARD, str(error))
    except RecursionError:
        return refused(Stage.GUARD, "expression nested too deeply")
    return equivalent(decision.stage) if decision.equal else different(decision.stage)


@lru_cache(maxsize=262_144)
def fast_verdict(prediction: str, gold: str, conventions: AnswerConventions = MODEL_OUTPUT) -> Verdict | None:
    """The verdict from the pure-Python stages, or None when the pair needs the sympy stage (memoized)."""
    try:
        return compare_answers(prediction, gold, conventions=conventions)
    except NeedsSymbolic:
        return None


@lru_cache(maxsize=64)
def _random_points(symbols: tuple[str, ...]) -> list[dict[str, Any]]:
    """Seeded points: two positive (inside sqrt/log domains), one negative, one with alternating signs,
    so ``x`` vs ``|x|`` and ``\\sqrt{x^2}`` vs ``x`` are told apart."""
    from openmath_kedro.answers.expression_values import _mpmath

    mp = _mpmath()
    generator = random.Random(20240229 + len(symbols))
    points = []
    for index in range(RANDOM_POINTS):
        point = {}
        for position, symbol in enumerate(symbols):
            value = Fraction(generator.randint(300_001, 2_400_001), 1_000_000)
            if index == 2 or (index == 3 and position % 2 == 0):
                value = -value
            point[symbol] = mp.mpf(value.numerator) / value.denominator
        points.append(point)
    return points


def _close(first: Any, second: Any, rel_tol: float) -> bool:
    scale = max(abs(first), abs(second))
    return abs(first - second) <= rel_tol * scale + 1e-40


def _infinity_sign(node: Node) -> int | None:
    if isinstance(node, Const) and node.name == "inf":
        return 1
    if isinstance(node, Neg):
        inner = _infinity_sign(node.operand)
        return None if inner is None else -inner
    return None


def _is_label(node: Node) -> bool:
    """A name for a value: ``x``, ``AB``, ``f(x)``, ``P(A)``, ``f(2)`` (parsed as products of symbols, with at
    most a number as the argument); not ``2x`` or ``x + 1``, which make an equation."""
    if isinstance(node, Sym):
        return True
    if not isinstance(node, Mul) or len(node.factors) > 3 or not isinstance(node.factors[0], Sym):
        return False
    return all(isinstance(factor, Sym) for factor in node.factors[1:-1]) and isinstance(
        node.factors[-1], Sym | Num
    )


def _assigned_value(relation: Relation) -> Scalar | None:
    """The value a relation states, compared with a bare answer: ``x = 5``, ``f(x) = 2x``, ``AB = 5``,
    ``f(2) = 11`` and ``2 + 3 = 5`` state their right-hand side, ``5 = x`` its left. An equation such as
    ``x + 1 = 0`` or ``9 = 2a + b`` states no value (``9 = 2a + b`` is not the value ``2a + b``)."""
    if relation.op not in ("=", "\\approx"):
        return None
    approximate = relation.op == "\\approx"
    lhs, rhs = relation.lhs, relation.rhs
    if _is_label(lhs):
        return Scalar(rhs, approximate=approximate)
    if symbols_of(lhs):
        return None
    if not symbols_of(rhs):
        return Scalar(rhs, approximate=approximate)  # 2 + 3 = 5
    return Scalar(lhs, approximate=approximate) if _is_label(rhs) else None  # 5 = x; 9 = 2a + b states none


def _rounding_half_width(node: Node) -> Fraction | None:
    """Half a unit in the last decimal place of a decimal literal (2.24 -> 0.005), else None."""
    sign_free = node.operand if isinstance(node, Neg) else node
    if not (isinstance(sign_free, Num) and sign_free.decimal):
        return None
    places = next((k for k in range(1, 61) if (sign_free.value * 10**k).denominator == 1), None)
    return Fraction(1, 2 * 10**places) if places else None


# Python prints a float to 17 significant digits; a computed value (0.1 + 0.2 = 0.30000000000000004) is off
# from the exact one in its last digits, far below any decimal a person writes.
FLOAT_NOISE = 1e-12


def _written_resolution(node: Node) -> Fraction | None:
    """One unit in the last decimal place of a lone decimal literal (``2.24`` -> 0.01; ``12441601.0`` ->
    0.1), also in scientific notation (``1.2441601 \\times 10^7`` -> 1), else None (an expression with
    decimals in it: its precision is not written down)."""
    if isinstance(node, Neg):
        node = node.operand
    scale = Fraction(1)
    if isinstance(node, Mul) and len(node.factors) == 2:
        mantissa, power = node.factors
        exponent = (
            exact_value(power.exponent)
            if isinstance(power, Pow) and power.base == Num(Fraction(10), False)
            else None
        )
        if exponent is None or exponent.denominator != 1 or abs(exponent) > 400:
            return None
        node, scale = mantissa, Fraction(10) ** int(exponent)
    half_width = _rounding_half_width(node)
    return None if half_width is None else 2 * half_width * scale


def _within_decimal_tolerance(
    x: Any, y: Any, rel_tol: Any, resolution_x: Fraction | None, resolution_y: Fraction | None
) -> bool:
    """A decimal equals a value within ``rel_tol`` and, when a side is a decimal literal, only as that literal's
    rounding or truncation: within half a unit in its last written place (``0.3333333333`` = 1/3,
    ``3.14159`` = \\pi), or short of the value by less than a unit (``0.6666666666`` = 2/3). The second bound
    keeps a relative tolerance from spanning whole units of a large number: ``12441601.0`` is not
    ``12441600`` (a tolerance of 1e-6 is 12.4 there). Of two literals the coarser approximates the other."""
    difference = abs(x - y)
    scale = max(abs(x), abs(y))
    if difference > rel_tol * scale:
        return False
    if resolution_x is None and resolution_y is None:
        return True  # decimals inside an expression: their precision is not written down
    if difference <= FLOAT_NOISE * scale:
        return True  # a computed float's last digits (0.30000000000000004 = 0.3)
    if resolution_y is None or (resolution_x is not None and resolution_x >= resolution_y):
        written, target, unit = x, y, resolution_x
    else:
        written, target, unit = y, x, resolution_y
    assert unit is not None
    if not isinstance(difference, Fraction):  # 50-digit mpmath values: compare with floats
        unit = float(unit)
    rounded = difference <= unit / 2
    truncated = difference < unit and abs(target) - abs(written) >= 0
    return bool(rounded or truncated)


_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]{2,}")
_BASE_NUMBER = re.compile(r"\d_")  # 2516_8: latex2sympy2 drops the base, so such answers never go there


def _unread_math(predicted: Form, expected: Form) -> bool:
    """A side is math this package's parser could not read (LaTeX commands, no words), the other side a value
    or the same kind of text: only then may the LaTeX fallback decide."""
    unread = [
        isinstance(form, Text)
        and bool(_LATEX_COMMAND.search(form.key))
        and not _BASE_NUMBER.search(form.key)
        and not _WORDY_TEXT.search(_LATEX_COMMAND.sub("", form.key))
        for form in (predicted, expected)
    ]
    readable = [isinstance(form, Scalar) for form in (predicted, expected)]
    return any(unread) and all(u or r for u, r in zip(unread, readable, strict=True))


_WORDY_TEXT = re.compile(r"[a-zA-Z]{3,}")  # a word left after removing commands: a word answer, not math


class FormComparer:
    """Compares two parsed answer forms under one set of conventions."""

    def __init__(self, conventions: AnswerConventions, symbolic_check: SymbolicCheck | None) -> None:
        self.conventions = conventions
        self.symbolic_check = symbolic_check

    def forms(self, predicted: Form, expected: Form) -> Decision:
        # (a, b) = (3, 4), \\angle PQR = 40^\\circ, \\frac{12}{4} = 3: the labelled value is the answer
        if isinstance(predicted, Labelled):
            predicted = predicted.value
        if isinstance(expected, Labelled):
            expected = expected.value
        if isinstance(expected, Choice) or isinstance(predicted, Choice):
            return self.choices(predicted, expected)
        if isinstance(predicted, Relation) or isinstance(expected, Relation):
            return self.relations(predicted, expected)
        if isinstance(predicted, Text) or isinstance(expected, Text):
            return Decision(self.texts_equal(predicted, expected), Stage.TEXT)
        if isinstance(predicted, Scalar) and isinstance(expected, Scalar):
            return self.scalars(predicted, expected)
        return self.structures(predicted, expected)

    # -- letters and words ---------------------------------------------------------------------------------
    def choices(self, predicted: Form, expected: Form) -> Decision:
        letters = [_choice_letter(form) for form in (predicted, expected)]
        return Decision(letters[0] is not None and letters[0] == letters[1], Stage.CHOICE)

    def texts_equal(self, predicted: Form, expected: Form) -> bool:
        if not (isinstance(predicted, Text) and isinstance(expected, Text)):
            return False
        if self.conventions.text_answers:
            return predicted.key.lower() == expected.key.lower()
        return predicted.key == expected.key

    # -- relations -----------------------------------------------------------------------------------------
    def relations(self, predicted: Form, expected: Form) -> Decision:
        if isinstance(predicted, Relation) and isinstance(expected, Relation):
            return self.equations(predicted, expected)
        relation, other = (predicted, expected) if isinstance(predicted, Relation) else (expected, predicted)
        assert isinstance(relation, Relation)
        value = _assigned_value(relation)
        if value is None or not isinstance(other, Scalar):
            return Decision(False, Stage.EQUATION)
        pair = (value, other) if relation is predicted else (other, value)
        return self.scalars(*pair)

    def equations(self, predicted: Relation, expected: Relation) -> Decision:
        if predicted.op != expected.op:
            return Decision(False, Stage.EQUATION)
        if predicted.op == "=" and predicted.lhs == expected.lhs and isinstance(predicted.lhs, Sym):
            # x = 1/3 vs x = 0.3333: the same assignment, compared as values (keeps the decimal tolerance)
            return self.scalars(Scalar(predicted.rhs), Scalar(expected.rhs))
        first = Add((predicted.lhs, Neg(predicted.rhs)))
        second = Add((expected.lhs, Neg(expected.rhs)))
        symbols = tuple(sorted(symbols_of(first) | symbols_of(second)))
        if not symbols:
            return Decision(False, Stage.EQUATION)
        ratios = []
        for point in _random_points(symbols):
            try:
                numerator, denominator = approximate(first, point), approximate(second, point)
            except ValueTooLarge:
                raise
            except EvaluationError:
                continue
            if abs(denominator) < 1e-30 or abs(numerator) < 1e-30:
                if abs(denominator) < 1e-30 and abs(numerator) < 1e-30:
                    continue
                return Decision(False, Stage.EQUATION)
            ratios.append(numerator / denominator)
        if len(ratios) < 2:
            return self.symbolic_or_raise(first, second, Stage.EQUATION, kind="proportional")
        same = all(_close(ratio, ratios[0], 1e-20) for ratio in ratios)
        if predicted.op in ("<", "\\le"):
            same = same and abs(ratios[0].imag) < 1e-30 and ratios[0].real > 0
        return Decision(same, Stage.EQUATION)

    # -- numbers and expressions ---------------------------------------------------------------------------
    def scalars(self, predicted: Scalar, expected: Scalar) -> Decision:
        if predicted.approximate != expected.approximate:
            approximate, exact = (predicted, expected) if predicted.approximate else (expected, predicted)
            decision = self.rounded(approximate.expr, exact.expr)
            if decision is not None:
                return decision
        a, b = predicted.expr, expected.expr
        if contains_infinity(a) or contains_infinity(b):
            signs = _infinity_sign(a), _infinity_sign(b)
            return Decision(signs[0] is not None and signs[0] == signs[1], Stage.VALUE)
        tolerant = has_decimal(a) or has_decimal(b)
        try:
            exact_a, exact_b = exact_value(a), exact_value(b)
        except EvaluationError:
            exact_a = exact_b = None
        if exact_a is not None and exact_b is not None:
            if tolerant:
                rel_tol = Fraction(self.decimal_rel_tol(a, b))
                equal = any(
                    _within_decimal_tolerance(x, y, rel_tol, resolution_x, resolution_y)
                    for x, resolution_x in self.resolved_readings(exact_a, predicted)
                    for y, resolution_y in self.resolved_readings(exact_b, expected)
                )
            else:
                readings_a = self.readings(exact_a, predicted.percent)
                readings_b = self.readings(exact_b, expected.percent)
                equal = any(x == y for x in readings_a for y in readings_b)
            return Decision(equal, Stage.NUMERIC)
        symbols = tuple(sorted(symbols_of(a) | symbols_of(b)))
        if not symbols:
            return self.constant_values(predicted, expected, tolerant)
        return self.expressions(a, b, symbols, tolerant)

    def rounded(self, approximation: Node, exact: Node) -> Decision | None:
        """``x \\approx 2.24`` against ``\\sqrt 5``: equal when the exact value rounds to the decimal given.
        Only a decimal literal against an exact (decimal-free, symbol-free) value; otherwise None."""
        half_width = _rounding_half_width(approximation)
        if half_width is None or has_decimal(exact) or symbols_of(exact) or contains_infinity(exact):
            return None
        try:
            exact_number = approximate(exact, {})
        except ValueTooLarge:
            raise
        except EvaluationError:
            return None
        if abs(exact_number.imag) > 1e-30:
            return Decision(False, Stage.VALUE)
        target = exact_value(approximation)
        assert target is not None
        distance = abs(exact_number.real - float(target))
        return Decision(bool(distance <= float(half_width) * (1 + 1e-9)), Stage.VALUE)

    def decimal_rel_tol(self, a: Node, b: Node) -> float:
        """``rel_tol``, but never looser than the relative precision written in the finest decimal literal:
        ``12441601.0 x`` is precise to 0.1 in 1.2e7 (8e-9), so it is not ``12441600 x``, which 1e-6 accepted.
        A computed float's last digits stay noise (``FLOAT_NOISE``)."""
        precisions = [
            float(_written_resolution(literal)) / abs(float(literal.value))
            for literal in decimal_literals(a) + decimal_literals(b)
            if literal.value != 0
        ]
        if not precisions:
            return self.conventions.rel_tol
        return min(self.conventions.rel_tol, max(FLOAT_NOISE, min(precisions)))

    def readings(self, value: Any, percent: bool) -> tuple[Any, ...]:
        """A percent answer also reads as a fraction of one: ``25\\%`` is 25 and 0.25."""
        return (value, value / 100) if percent and self.conventions.percent_reading else (value,)

    def resolved_readings(self, value: Any, scalar: Scalar) -> tuple[tuple[Any, Fraction | None], ...]:
        """The readings of a scalar, each with the written resolution of its decimal literal (scaled with
        the percent reading: ``12.5\\%`` is 0.125 to within 0.001)."""
        resolution = _written_resolution(scalar.expr)
        readings = self.readings(value, scalar.percent)
        if len(readings) == 1:
            return ((readings[0], resolution),)
        return ((readings[0], resolution), (readings[1], None if resolution is None else resolution / 100))

    def constant_values(self, predicted: Scalar, expected: Scalar, tolerant: bool) -> Decision:
        try:
            value_a, value_b = approximate(predicted.expr, {}), approximate(expected.expr, {})
        except ValueTooLarge:
            raise
        except EvaluationError:
            return self.symbolic_or_raise(predicted.expr, expected.expr, Stage.SYMBOLIC)
        if tolerant:
            equal = any(
                _within_decimal_tolerance(
                    x, y, self.decimal_rel_tol(predicted.expr, expected.expr), resolution_x, resolution_y
                )
                for x, resolution_x in self.resolved_readings(value_a, predicted)
                for y, resolution_y in self.resolved_readings(value_b, expected)
            )
            return Decision(equal, Stage.VALUE)
        pairs = [
            (x, y)
            for x in self.readings(value_a, predicted.percent)
            for y in self.readings(value_b, expected.percent)
        ]
        if any(_close(x, y, EXACT_TOLERANCE) for x, y in pairs):
            return Decision(True, Stage.VALUE)
        if all(not _close(x, y, DIFFERENT_TOLERANCE) for x, y in pairs):
            return Decision(False, Stage.VALUE)
        return self.symbolic_or_raise(predicted.expr, expected.expr, Stage.SYMBOLIC)

    def expressions(self, a: Node, b: Node, symbols: tuple[str, ...], tolerant: bool) -> Decision:
        rel_tol = self.decimal_rel_tol(a, b) if tolerant else EXACT_TOLERANCE
        agreed = 0
        undecided = False
        for point in _random_points(symbols):
            try:
                value_a, value_b = approximate(a, point), approximate(b, point)
            except ValueTooLarge:
                raise
            except EvaluationError:
                continue
            if _close(value_a, value_b, rel_tol):
                agreed += 1
            elif not _close(value_a, value_b, max(rel_tol, DIFFERENT_TOLERANCE)):
                return Decision(False, Stage.EXPRESSION)
            else:
                undecided = True
        if agreed >= 2 and not undecided:
            return Decision(True, Stage.EXPRESSION)
        return self.symbolic_or_raise(a, b, Stage.SYMBOLIC)

    def symbolic_or_raise(self, a: Node, b: Node, stage: Stage, *, kind: str = "equal") -> Decision:
        if self.symbolic_check is None:
            raise NeedsSymbolic
        return Decision(self.symbolic_check(a, b, kind), stage)

    # -- structures ----------------------------------------------------------------------------------------
    def structures(self, predicted: Form, expected: Form) -> Decision:
        equal = self.structures_equal(predicted, expected)
        return Decision(equal, Stage.STRUCTURE)

    def structures_equal(self, predicted: Form, expected: Form) -> bool:
        unordered = (SetOf, UnorderedList)
        if isinstance(predicted, Sequence) and isinstance(expected, Sequence):
            return (
                predicted.opening == expected.opening
                and predicted.closing == expected.closing
                and self.ordered(predicted.items, expected.items)
            )
        if isinstance(predicted, unordered) and isinstance(expected, unordered):
            return self.unordered(predicted.items, expected.items)
        if isinstance(predicted, Union) and isinstance(expected, Union):
            return self.unordered(predicted.parts, expected.parts)
        if isinstance(predicted, Matrix) and isinstance(expected, Matrix):
            return len(predicted.rows) == len(expected.rows) and all(
                self.ordered(row_a, row_b) for row_a, row_b in zip(predicted.rows, expected.rows, strict=True)
            )
        # A vector written as a tuple, a point without parentheses, a one-element set.
        vector_a = _as_vector(predicted, against_matrix=isinstance(expected, Matrix))
        vector_b = _as_vector(expected, against_matrix=isinstance(predicted, Matrix))
        if vector_a is not None and vector_b is not None:
            return self.ordered(vector_a, vector_b)
        if isinstance(predicted, SetOf) and len(predicted.items) == 1 and isinstance(expected, Scalar):
            return self.forms(predicted.items[0], expected).equal
        if isinstance(expected, SetOf) and len(expected.items) == 1 and isinstance(predicted, Scalar):
            return self.forms(predicted, expected.items[0]).equal
        return False

    def ordered(self, items_a: tuple[Form, ...], items_b: tuple[Form, ...]) -> bool:
        return len(items_a) == len(items_b) and all(
            self.forms(a, b).equal for a, b in zip(items_a, items_b, strict=True)
        )

    def unordered(self, items_a: tuple[Form, ...], items_b: tuple[Form, ...]) -> bool:
        """Set semantics: every item on each side equals some item on the other."""
        if not items_a or not items_b:
            return not items_a and not items_b
        matched_b = [False] * len(items_b)
        for a in items_a:
            found = False
            for index, b in enumerate(items_b):
                if self.forms(a, b).equal:
                    matched_b[index] = found = True
            if not found:
                return False
        return all(matched_b)


def _as_vector(form: Form, *, against_matrix: bool = False) -> tuple[Form, ...] | None:
    if isinstance(form, Sequence) and form.opening == "(" and form.closing == ")":
        return form.items
    if against_matrix and isinstance(form, Sequence) and form.opening == "[" and form.closing == "]":
        return form.items  # [1, -2, 3] next to a matrix is a vector, not the interval it is elsewhere
    if isinstance(form, UnorderedList):
        return form.items
    if isinstance(form, Matrix):
        if len(form.rows) == 1:
            return form.rows[0]
        if all(len(row) == 1 for row in form.rows):
            return tuple(row[0] for row in form.rows)
    return None


def _choice_letter(form: Form) -> str | None:
    if isinstance(form, Choice):
        return form.letter
    if isinstance(form, Scalar) and isinstance(form.expr, Sym) and len(form.expr.name) == 1:
        return form.expr.name.upper()
    if isinstance(form, Scalar) and isinstance(form.expr, Const) and form.expr.name in ("e", "i"):
        return form.expr.name.upper()
    if isinstance(form, Text) and len(form.key) == 1:
        return form.key.upper()
    return None
