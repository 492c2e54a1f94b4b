"""The sympy stage. Runs only inside worker processes (``worker_pool``), where a hard deadline applies."""

from __future__ import annotations

from functools import reduce
from typing import Any

import sympy

from openmath_kedro.answers.conventions import AnswerConventions
from openmath_kedro.answers.equivalence import compare_answers
from openmath_kedro.answers.latex_expression import Add, Const, Div, Func, Mul, Neg, Node, Num, Pow, Sym

_CONSTANTS = {"pi": sympy.pi, "e": sympy.E, "i": sympy.I, "inf": sympy.oo}
_FUNCTIONS: dict[str, Any] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "cot": sympy.cot,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "exp": sympy.exp,
    "ln": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "floor": sympy.floor,
    "ceil": sympy.ceiling,
    "factorial": sympy.factorial,
    "sign": sympy.sign,
    "max": sympy.Max,
    "min": sympy.Min,
}


def to_sympy(node: Node) -> sympy.Expr:
    """Convert the parser's tree; symbols get no assumptions, as a grader cannot know them."""
    if isinstance(node, Num):
        return sympy.Rational(node.value.numerator, node.value.denominator)
    if isinstance(node, Sym):
        return sympy.Symbol(node.name)
    if isinstance(node, Const):
        return _CONSTANTS[node.name]
    if isinstance(node, Neg):
        return -to_sympy(node.operand)
    if isinstance(node, Add):
        return sympy.Add(*(to_sympy(term) for term in node.terms))
    if isinstance(node, Mul):
        return sympy.Mul(*(to_sympy(factor) for factor in node.factors))
    if isinstance(node, Div):
        return to_sympy(node.numerator) / to_sympy(node.denominator)
    if isinstance(node, Pow):
        exponent = to_sympy(node.exponent)
        if isinstance(exponent, sympy.Rational) and exponent.q % 2 == 1 and exponent.q > 1:
            # the real branch, as the fast stages evaluate it (x^{1/3} is \sqrt[3]{x})
            return sympy.real_root(to_sympy(node.base), exponent.q) ** exponent.p
        return sympy.Pow(to_sympy(node.base), exponent)
    if isinstance(node, Func):
        args = [to_sympy(arg) for arg in node.args]
        if node.name == "root":
            return sympy.real_root(args[0], args[1]) if args[1].is_integer else args[0] ** (1 / args[1])
        if node.name == "log":
            return sympy.log(*args)
        if node.name == "binom":
            return sympy.binomial(*args)
        if node.name in ("gcd", "lcm"):
            return _gcd_or_lcm(node.name, args)
        return _FUNCTIONS[node.name](*args)
    raise TypeError(f"unknown node {node!r}")


def _gcd_or_lcm(name: str, args: list[sympy.Expr]) -> sympy.Expr:
    """Of rational numbers as sympy defines it; of anything else an unevaluated function. sympy's ``gcd``
    is the polynomial one (gcd(x, 6) = 1), which would make ``\\gcd(x, 6)`` equal 1."""
    if not all(arg.is_Rational for arg in args):
        return sympy.Function(name)(*args)
    if len(args) == 1:
        return sympy.Abs(args[0])
    return reduce(sympy.gcd if name == "gcd" else sympy.lcm, args)


def symbolic_equal(a: Node, b: Node, kind: str) -> bool:
    """Simplification first, sympy's own random-point test (``equals``) as the last resort."""
    first, second = to_sympy(a), to_sympy(b)
    if kind == "proportional":
        ratio = sympy.simplify(first / second)
        return bool(ratio.free_symbols == set() and ratio.is_zero is False and ratio.is_finite)
    difference = sympy.simplify(first - second)
    if difference == 0:
        return True
    if difference.is_number:
        value = complex(difference.evalf(30))
        return abs(value) < 1e-20
    return bool(first.equals(second))


_LATEX_RESULT_TYPES = (sympy.Expr,)


def latex_equal(first: str, second: str) -> bool:
    """Both answers parsed by latex2sympy2_extended (math-verify's parser) and compared as numbers or
    expressions. Strict: anything but two scalar expressions, multi-letter symbols (``\\angle PQR`` parses
    as angle*P*Q*R) or a parse failure is "not equal"."""
    from latex2sympy2_extended import latex2sympy  # declared in pyproject; imported here, where it is needed

    try:
        values = [latex2sympy(text) for text in (first, second)]
    except Exception:  # noqa: BLE001 - the parser raises many kinds of errors on input it does not read
        return False
    if not all(isinstance(value, _LATEX_RESULT_TYPES) for value in values):
        return False
    if any(
        len(symbol.name) > 1 and "_" not in symbol.name for value in values for symbol in value.free_symbols
    ):
        return False
    difference = sympy.simplify(values[0] - values[1])
    if difference == 0:
        return True
    if difference.is_number:
        return abs(complex(difference.evalf(30))) < 1e-20
    return False


def compare_with_sympy(task: tuple[str, str, dict[str, Any]]) -> dict[str, object]:
    """Worker entry point: one (prediction, gold, conventions) pair through every stage including sympy."""
    prediction, gold, conventions = task
    verdict = compare_answers(
        prediction,
        gold,
        conventions=AnswerConventions.from_dict(conventions),
        symbolic_check=symbolic_equal,
        latex_check=latex_equal,
    )
    return verdict.to_dict()
