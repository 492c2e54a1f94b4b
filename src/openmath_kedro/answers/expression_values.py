"""Values of expression trees: exactly as fractions, or at high precision with mpmath (no sympy)."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Any

from openmath_kedro.answers.latex_expression import Add, Const, Div, Func, Mul, Neg, Node, Num, Pow, Sym

MAX_EXACT_BITS = 200_000  # an exact power bigger than this is refused, not computed
MAX_EXPONENT = 100_000  # |exponent| of a power evaluated numerically
MAX_MAGNITUDE_BITS = 1_000_000  # |exponent * log2 |base|| of a power evaluated numerically
MAX_FACTORIAL = 5_000
# gcd and lcm of approximate values: only integers this far below 10^50 (the working precision) are exact
MAX_APPROXIMATE_INTEGER = 10**40


class EvaluationError(ArithmeticError):
    """No value here (undefined, or a function the evaluator lacks); sympy may still decide."""


class ValueTooLarge(EvaluationError):
    """The value is too large to compute safely (``10^{10^{10}}``): the pair is refused, not attempted."""


class _NotRational(Exception):
    pass


def exact_value(node: Node) -> Fraction | None:
    """The rational value of a constant expression, or None when it is not (visibly) rational."""
    try:
        return _exact(node)
    except _NotRational:
        return None
    except ZeroDivisionError as error:
        raise EvaluationError("division by zero") from error


def _integer_root(value: int, degree: int) -> int | None:
    if value < 0:
        if degree % 2 == 0:
            return None
        root = _integer_root(-value, degree)
        return None if root is None else -root
    if value.bit_length() > 4096:
        return None
    guess = round(value ** (1.0 / degree)) if value.bit_length() < 1000 else None
    if guess is None:
        return None
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate**degree == value:
            return candidate
    return None


def _exact_power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        if abs(exponent.numerator) > 64 or exponent.denominator > 64:
            raise _NotRational
        numerator = _integer_root(base.numerator, exponent.denominator)
        denominator = _integer_root(base.denominator, exponent.denominator)
        if numerator is None or denominator is None:
            raise _NotRational
        return _exact_power(Fraction(numerator, denominator), Fraction(exponent.numerator))
    power = exponent.numerator
    if base in (0, 1) or power == 0:
        if base == 0 and power < 0:
            raise ZeroDivisionError
        return base**power
    if base == -1:
        return Fraction(-1 if power % 2 else 1)
    size = base.numerator.bit_length() + base.denominator.bit_length()
    if abs(power) > MAX_EXPONENT or size * abs(power) > MAX_EXACT_BITS:
        raise ValueTooLarge("power too large to compute exactly")
    return base**power


def _exact(node: Node) -> Fraction:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        return -_exact(node.operand)
    if isinstance(node, Add):
        return sum((_exact(term) for term in node.terms), Fraction(0))
    if isinstance(node, Mul):
        product = Fraction(1)
        for factor in node.factors:
            product *= _exact(factor)
        return product
    if isinstance(node, Div):
        return _exact(node.numerator) / _exact(node.denominator)
    if isinstance(node, Pow):
        return _exact_power(_exact(node.base), _exact(node.exponent))
    if isinstance(node, Func):
        return _exact_function(node)
    raise _NotRational


def _exact_function(node: Func) -> Fraction:
    args = [_exact(arg) for arg in node.args]
    name = node.name
    if name == "sqrt":
        return _exact_power(args[0], Fraction(1, 2)) if args[0] >= 0 else _raise_not_rational()
    if name == "root" and args[1].denominator == 1 and 0 < args[1] <= 64:
        return _exact_power(args[0], Fraction(1, int(args[1])))
    if name == "abs":
        return abs(args[0])
    if name == "floor":
        return Fraction(math.floor(args[0]))
    if name == "ceil":
        return Fraction(math.ceil(args[0]))
    if name == "factorial" and args[0].denominator == 1 and 0 <= args[0] <= MAX_FACTORIAL:
        return Fraction(math.factorial(int(args[0])))
    if name == "binom" and all(arg.denominator == 1 for arg in args) and 0 <= args[0] <= MAX_FACTORIAL:
        return Fraction(math.comb(int(args[0]), int(args[1]))) if args[1] >= 0 else Fraction(0)
    if name == "sign":
        return Fraction((args[0] > 0) - (args[0] < 0))
    if name in ("max", "min"):
        return max(args) if name == "max" else min(args)
    if name in ("gcd", "lcm") and all(arg.denominator == 1 for arg in args):
        return Fraction(_integer_gcd_or_lcm(name, [int(arg) for arg in args]))
    raise _NotRational  # gcd of fractions: sympy's definition decides, in a worker


def _integer_gcd_or_lcm(name: str, integers: list[int]) -> int:
    result = math.gcd(*integers) if name == "gcd" else math.lcm(*integers)
    if result.bit_length() > MAX_EXACT_BITS:
        raise ValueTooLarge(f"{name} too large to compute exactly")
    return result


def _raise_not_rational() -> Fraction:
    raise _NotRational


def has_decimal(node: Node) -> bool:
    """True when a decimal literal (``0.5``, ``1.5e3``) occurs: such answers compare with tolerance."""
    if isinstance(node, Num):
        return node.decimal
    return any(has_decimal(child) for child in _children(node))


def decimal_literals(node: Node) -> list[Num]:
    """Every decimal literal in an expression (``0.5x + 12.0`` -> 0.5, 12.0)."""
    if isinstance(node, Num):
        return [node] if node.decimal else []
    return [literal for child in _children(node) for literal in decimal_literals(child)]


def symbols_of(node: Node) -> frozenset[str]:
    if isinstance(node, Sym):
        return frozenset((node.name,))
    found: frozenset[str] = frozenset()
    for child in _children(node):
        found |= symbols_of(child)
    return found


def contains_infinity(node: Node) -> bool:
    if isinstance(node, Const):
        return node.name == "inf"
    return any(contains_infinity(child) for child in _children(node))


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Add):
        return node.terms
    if isinstance(node, Mul):
        return node.factors
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, Div):
        return (node.numerator, node.denominator)
    if isinstance(node, Pow):
        return (node.base, node.exponent)
    if isinstance(node, Func):
        return node.args
    return ()


@lru_cache(maxsize=1)
def _mpmath() -> Any:
    import mpmath  # imported on first use: integer and fraction answers never need it

    return mpmath


def approximate(node: Node, env: dict[str, Any], *, digits: int = 50) -> Any:
    """The value of ``node`` as an mpmath complex at ``digits`` digits, symbols taken from ``env``."""
    mp = _mpmath()
    with mp.workdps(digits):
        try:
            value = _approximate(node, env, mp)
        except (ZeroDivisionError, ValueError, OverflowError, TypeError) as error:
            if isinstance(error, EvaluationError):
                raise
            raise EvaluationError(str(error)) from error
        return mp.mpc(value)


def _approximate(node: Node, env: dict[str, Any], mp: Any) -> Any:
    if isinstance(node, Num):
        return mp.mpf(node.value.numerator) / node.value.denominator
    if isinstance(node, Sym):
        if node.name not in env:
            raise EvaluationError(f"no value for {node.name}")
        return env[node.name]
    if isinstance(node, Const):
        if node.name == "pi":
            return +mp.pi
        if node.name == "e":
            return +mp.e
        if node.name == "i":
            return mp.mpc(0, 1)
        raise EvaluationError("infinity has no finite value")
    if isinstance(node, Neg):
        return -_approximate(node.operand, env, mp)
    if isinstance(node, Add):
        return mp.fsum(_approximate(term, env, mp) for term in node.terms)
    if isinstance(node, Mul):
        product = mp.mpf(1)
        for factor in node.factors:
            product *= _approximate(factor, env, mp)
        return product
    if isinstance(node, Div):
        denominator = _approximate(node.denominator, env, mp)
        if denominator == 0:
            raise EvaluationError("division by zero")
        return _approximate(node.numerator, env, mp) / denominator
    if isinstance(node, Pow):
        base = _approximate(node.base, env, mp)
        odd_root = _odd_root_exponent(node.exponent)
        if odd_root is not None and mp.im(base) == 0 and mp.re(base) < 0:
            # x^{1/3} at a negative x: the real cube root, as \sqrt[3]{x} and as people mean it (the principal
            # complex branch would make x^{1/3} differ from \sqrt[3]{x} at every negative point)
            magnitude = _power(-mp.re(base), mp.mpf(odd_root.numerator) / odd_root.denominator, mp)
            return -magnitude if odd_root.numerator % 2 else magnitude
        return _power(base, _approximate(node.exponent, env, mp), mp)
    if isinstance(node, Func):
        return _function(node.name, [_approximate(arg, env, mp) for arg in node.args], mp)
    raise EvaluationError(f"cannot evaluate {type(node).__name__}")


def _odd_root_exponent(exponent: Node) -> Fraction | None:
    """The exponent when it is a rational p/q with q odd and above 1 (a real odd root), else None."""
    if isinstance(exponent, Num | Sym | Const):
        return None  # the common x^2, x^n, e^x: not an odd root, no exact evaluation needed
    try:
        value = exact_value(exponent)
    except EvaluationError:
        return None
    if value is None or value.denominator == 1 or value.denominator % 2 == 0:
        return None
    return value


def _power(base: Any, exponent: Any, mp: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        if base in (0, 1):
            return base
        raise ValueTooLarge("exponent too large")
    magnitude = abs(base)
    if magnitude != 0 and abs(exponent) * abs(mp.log(magnitude, 2)) > MAX_MAGNITUDE_BITS:
        raise ValueTooLarge("power too large")
    if base == 0:
        if mp.re(exponent) <= 0:
            raise EvaluationError("zero to a non-positive power")
        return mp.mpf(0)
    if mp.im(exponent) == 0 and mp.im(base) == 0:
        real_exponent = mp.re(exponent)
        if real_exponent == int(real_exponent):
            return mp.re(base) ** int(real_exponent)  # exact integer powers keep negative bases real
    return mp.power(base, exponent)


def _real(value: Any, mp: Any, name: str) -> Any:
    if mp.im(value) != 0:
        raise EvaluationError(f"{name} of a complex value")
    return mp.re(value)


def _function(name: str, args: list[Any], mp: Any) -> Any:
    value = args[0]
    if name == "sqrt":
        return mp.sqrt(value)
    if name == "root":
        degree = args[1]
        if mp.im(value) == 0 and mp.im(degree) == 0 and mp.re(degree) == int(mp.re(degree)):
            whole = int(mp.re(degree))
            if whole % 2 == 1 and mp.re(value) < 0:
                return -mp.root(-mp.re(value), whole)  # \sqrt[3]{-8} = -2, the real root people mean
            if whole > 0:
                return mp.root(value, whole)
        return _power(value, 1 / degree, mp)
    if name == "abs":
        return abs(value)
    if name in ("sin", "cos", "tan", "sinh", "cosh", "tanh", "exp"):
        if abs(value) > 1e6:
            raise ValueTooLarge(f"{name} argument too large")
        return getattr(mp, name)(value)
    if name in ("sec", "csc", "cot"):
        return getattr(mp, name)(value)
    if name in ("arcsin", "arccos", "arctan"):
        return getattr(mp, "a" + name[3:])(value)
    if name in ("ln", "log"):
        if value == 0:
            raise EvaluationError("log of zero")
        if len(args) == 2:
            return mp.log(value) / mp.log(args[1])
        return mp.log(value)
    if name == "floor":
        return mp.floor(_real(value, mp, name))
    if name == "ceil":
        return mp.ceil(_real(value, mp, name))
    if name == "sign":
        return mp.sign(_real(value, mp, name))
    if name == "factorial":
        real = _real(value, mp, name)
        if real > MAX_FACTORIAL:
            raise ValueTooLarge("factorial too large")
        return mp.factorial(real)
    if name == "binom":
        return mp.binomial(_real(value, mp, name), _real(args[1], mp, name))
    if name in ("max", "min"):
        reals = [_real(arg, mp, name) for arg in args]
        return max(reals) if name == "max" else min(reals)
    if name in ("gcd", "lcm"):
        return mp.mpf(_integer_gcd_or_lcm(name, [_integer(arg, mp, name) for arg in args]))
    raise EvaluationError(f"unknown function {name}")


def _integer(value: Any, mp: Any, name: str) -> int:
    """An approximate value that is an integer, as an int; else no value (gcd of 2.5 or of a variable)."""
    real = _real(value, mp, name)
    nearest = mp.nint(real)
    if real != nearest or abs(nearest) > MAX_APPROXIMATE_INTEGER:
        raise EvaluationError(f"{name} of a value that is no integer")
    return int(nearest)
