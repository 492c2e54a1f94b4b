"""A small LaTeX/plain-text math expression parser producing a tiny expression tree.

Own parser rather than sympy's or ``latex2sympy2_extended`` (math-verify's): those take 5-120 ms per answer
(ANTLR), this one microseconds, and an own tree lets the cheap stages evaluate exactly (``Fraction``) or at
high precision (mpmath) without sympy, and refuse huge powers before anything computes them. (An earlier note
here said the ANTLR runtime conflicts with other tools; it does not: ``antlr4-python3-runtime==4.13.2`` is
pinned in requirements.lock with math-verify and ``pip check`` is clean.) ``latex2sympy2_extended`` is the
fallback for answers this parser cannot read (``symbolic.latex_equal``, worker processes only). The tree
converts to sympy only in the worker processes (``symbolic.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction


class ExpressionParseError(ValueError):
    """The text is not a math expression this parser understands (it may still be a word answer)."""


@dataclass(frozen=True, slots=True)
class Num:
    value: Fraction
    decimal: bool  # written with a decimal point or an exponent: compared with tolerance


@dataclass(frozen=True, slots=True)
class Sym:
    name: str


@dataclass(frozen=True, slots=True)
class Const:
    name: str  # "pi", "e", "i", "inf"


@dataclass(frozen=True, slots=True)
class Add:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Mul:
    factors: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node


@dataclass(frozen=True, slots=True)
class Div:
    numerator: Node
    denominator: Node


@dataclass(frozen=True, slots=True)
class Pow:
    base: Node
    exponent: Node


@dataclass(frozen=True, slots=True)
class Func:
    name: str  # sqrt, root, sin, ..., log (args: value[, base]), abs, floor, ceil, sign, factorial, binom,
    # gcd, lcm, max, min (one or more args)
    args: tuple[Node, ...]


Node = Num | Sym | Const | Add | Mul | Neg | Div | Pow | Func

FUNCTION_NAMES = frozenset(
    "sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh ln log exp sqrt".split()
)
_FUNCTION_COMMANDS = {f"\\{name}": name for name in FUNCTION_NAMES} | {"\\lg": "log"}
# Functions written by name with their arguments in brackets: \gcd(12, 18), \max\{3, 5\}, \abs{x}, and
# \operatorname{lcm}(4,6), which normalization leaves as "lcm (4,6)", so the bare word is one too (also as
# Python writes it, lcm(4, 6)). Unlike FUNCTION_NAMES a name here needs its bracket: "2 min 30 s" is no
# function (and "min" stays a unit for normalization).
LIST_FUNCTIONS = frozenset({"gcd", "lcm", "max", "min"})  # one or more arguments
NAMED_FUNCTIONS = {name: name for name in LIST_FUNCTIONS} | {
    "floor": "floor",
    "ceil": "ceil",
    "abs": "abs",
    "sgn": "sign",
    "sign": "sign",
}
_ARGUMENT_BRACKETS = {"(": ")", "\\{": "\\}", "{": "}"}
_DEGREE = "\\circ"  # normalization writes every degree sign as ^\circ
_TRIGONOMETRIC = frozenset("sin cos tan sec csc cot".split())
_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho sigma "
    "tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega".split()
)
_MULTIPLY_COMMANDS = frozenset({"\\cdot", "\\times", "\\ast", "\\cdotp"})
_IGNORED_COMMANDS = frozenset(
    {
        "\\,",
        "\\;",
        "\\:",
        "\\!",
        "\\ ",
        "\\quad",
        "\\qquad",
        "\\displaystyle",
        "\\limits",
        "\\mathrm",
        "\\mathit",
        "\\mathbf",
        "\\rm",
    }
)
_WORD_CONSTANTS = {
    "pi": Const("pi"),
    "inf": Const("inf"),
    "infty": Const("inf"),
    "infinity": Const("inf"),
    "oo": Const("inf"),
}

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![\d.]))?)
    |(?P<cmd>\\[a-zA-Z]+|\\[{}|,;:!\ ])
    |(?P<word>[a-zA-Z]+)
    |(?P<op>[-+*/^_()\[\]{}!|',])""",
    re.VERBOSE,
)
MAX_NESTING = 60  # deeper input is refused before Python's recursion limit is anywhere near


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # num, cmd, letter, func, named, const, op
    text: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while position < length:
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionParseError(f"unexpected character {text[position]!r}")
        position = match.end()
        kind = match.lastgroup
        value = match.group()
        if kind == "space":
            continue
        if kind == "word":
            tokens.extend(_word_tokens(value))
        elif kind == "cmd" and value in _IGNORED_COMMANDS:
            continue
        else:
            tokens.append(Token(kind, value))  # type: ignore[arg-type]
    return tokens


def _word_tokens(word: str) -> list[Token]:
    lowered = word.lower()
    if word in FUNCTION_NAMES:
        return [Token("func", word)]
    if word in NAMED_FUNCTIONS:
        return [Token("named", word)]
    if lowered in _WORD_CONSTANTS and (len(word) > 1):
        return [Token("const", lowered)]
    if len(word) >= 3:
        # A run of three letters that is no function name is a word ("yes", "Monday"), not x*y*z.
        raise ExpressionParseError(f"word {word!r}")
    return [Token("letter", letter) for letter in word]


def parse_expression(text: str) -> Node:
    """Parse one scalar expression (no commas, relations or set braces; ``answer_forms`` splits those)."""
    tokens = tokenize(text)
    if not tokens:
        raise ExpressionParseError("empty expression")
    parser = _Parser(tokens)
    node = parser.parse_sum()
    if parser.position != len(tokens):
        raise ExpressionParseError(f"unexpected {tokens[parser.position].text!r}")
    return node


def _product(factors: list[Node]) -> Node:
    return factors[0] if len(factors) == 1 else Mul(tuple(factors))


def _is_integer_literal(node: Node) -> bool:
    return isinstance(node, Num) and not node.decimal and node.value.denominator == 1


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0
        self.abs_depth = 0
        self.trig_depth = 0  # inside sin/cos/...: a degree sign means pi/180 there

    # -- token helpers -------------------------------------------------------------------------------------
    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def peek_is(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.text in texts

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ExpressionParseError("unexpected end of expression")
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ExpressionParseError(f"expected {text!r}, found {token.text!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionParseError("expression nested too deeply")

    # -- grammar -------------------------------------------------------------------------------------------
    def parse_sum(self) -> Node:
        self.enter()
        terms = [self.parse_product()]
        while self.peek_is("+", "-"):
            sign = self.take().text
            term = self.parse_product()
            terms.append(term if sign == "+" else Neg(term))
        self.depth -= 1
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def parse_product(self) -> Node:
        factors = [self.parse_signed()]
        while True:
            token = self.peek()
            if token is None:
                break
            if token.text == "*" or token.text in _MULTIPLY_COMMANDS:
                self.take()
                factors.append(self.parse_signed())
            elif token.text in ("/", "\\div"):
                self.take()
                factors = [Div(_product(factors), self.parse_signed())]
            elif self.starts_operand(token):
                factors.append(self.parse_power())  # implicit multiplication: 2x, 3\sqrt{2}, (a)(b)
            else:
                break
        return _product(factors)

    def parse_signed(self) -> Node:
        if self.peek_is("-"):
            self.take()
            self.enter()
            operand = self.parse_signed()
            self.depth -= 1
            return Neg(operand)
        if self.peek_is("+"):
            self.take()
            return self.parse_signed()
        return self.parse_power()

    def starts_operand(self, token: Token) -> bool:
        if token.kind in ("num", "letter", "func", "named", "const"):
            return True
        if token.text == "|":
            return self.abs_depth == 0
        if token.kind == "cmd":
            return token.text not in _MULTIPLY_COMMANDS and token.text not in (
                "\\div",
                "\\rfloor",
                "\\rceil",
                "\\}",
            )
        return token.text in ("(", "[", "{")

    def parse_power(self) -> Node:
        base = self.parse_postfix()
        if (
            self.peek_is("^")
            and self.position + 1 < len(self.tokens)
            and self.tokens[self.position + 1].text == _DEGREE
        ):
            self.position += 2
            # 40^\circ is the value 40 (degrees are the answer's unit); inside \sin, \cos, ... it is 40 pi/180
            return Mul((base, Div(Const("pi"), Num(Fraction(180), False)))) if self.trig_depth else base
        if self.peek_is("^"):
            self.take()
            self.enter()
            exponent = self.parse_exponent()
            self.depth -= 1
            base = Pow(base, exponent)
            while self.peek_is("!"):
                self.take()
                base = Func("factorial", (base,))
        return base

    def parse_exponent(self) -> Node:
        if self.peek_is("-"):
            self.take()
            return Neg(self.parse_exponent())
        if self.peek_is("{"):
            return self.parse_group()
        # x^2, e^x, 2^\pi: LaTeX takes one token; "2^10" in plain text means 2^{10}, so a number stays whole.
        return self.parse_postfix()

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while True:
            if self.peek_is("!"):
                self.take()
                node = Func("factorial", (node,))
            elif self.peek_is("_") and isinstance(node, Sym):
                self.take()
                node = Sym(f"{node.name}_{self.subscript_text()}")
            elif self.peek_is("'") and isinstance(node, Sym):
                self.take()
                node = Sym(node.name + "'")
            else:
                return node

    def subscript_text(self) -> str:
        token = self.take()
        if token.text != "{":
            return token.text
        parts = []
        while not self.peek_is("}"):
            part = self.take()
            if part.text == ",":
                raise ExpressionParseError("comma in a subscript")  # a_{1,2}: an index pair, not one name
            parts.append(part.text)
        self.take()
        return "".join(parts)

    def parse_group(self) -> Node:
        """``{...}`` as a LaTeX argument."""
        self.expect("{")
        node = self.parse_sum()
        self.expect("}")
        return node

    def parse_argument(self) -> Node:
        """A command argument: ``{...}`` or one token (``\\frac12``, ``\\sqrt2``, ``\\sqrt x``)."""
        if self.peek_is("{"):
            return self.parse_group()
        token = self.take()
        if token.kind == "num":
            digits = token.text
            if digits.isdigit() and len(digits) > 1:
                # \frac12 is \frac{1}{2}: an unbraced argument is one character.
                self.tokens.insert(self.position, Token("num", digits[1:]))
                return Num(Fraction(int(digits[0])), False)
            return _number(token.text)
        self.position -= 1
        return self.parse_postfix()

    def parse_primary(self) -> Node:
        self.enter()
        try:
            return self._parse_primary()
        finally:
            self.depth -= 1

    def _parse_primary(self) -> Node:
        token = self.take()
        kind, text = token.kind, token.text
        if kind == "num":
            number = _number(text)
            if _is_integer_literal(number) and self.peek_is("\\frac"):
                return self.mixed_number(number)
            return number
        if kind == "letter":
            if text == "e":
                return Const("e")
            if text == "i":
                return Const("i")
            return Sym(text)
        if kind == "const":
            return _WORD_CONSTANTS[text]
        if kind == "func":
            return self.parse_function(text)
        if kind == "named":
            return self.named_function(NAMED_FUNCTIONS[text])
        if text in ("(", "["):
            node = self.parse_sum()
            self.expect(")" if text == "(" else "]")
            return node
        if text == "{":
            node = self.parse_sum()
            self.expect("}")
            return node
        if text == "|":
            self.abs_depth += 1
            node = self.parse_sum()
            self.abs_depth -= 1
            self.expect("|")
            return Func("abs", (node,))
        if kind == "cmd":
            return self.parse_command(text)
        raise ExpressionParseError(f"unexpected {text!r}")

    def mixed_number(self, whole: Num) -> Node:
        """``2\\frac{1}{2}`` is two and a half (a mixed number), not 2 * 1/2."""
        start = self.position
        self.take()
        numerator = self.parse_argument()
        denominator = self.parse_argument()
        if _is_integer_literal(numerator) and _is_integer_literal(denominator):
            return Num(whole.value + numerator.value / denominator.value, False)  # type: ignore[union-attr, operator]
        self.position = start  # 2\frac{x}{3}: an ordinary product
        return whole

    def parse_function(self, name: str) -> Node:
        power: Node | None = None
        if self.peek_is("^"):  # \sin^2 x
            self.take()
            power = self.parse_exponent()
            if power == Neg(Num(Fraction(1), False)) and name in _TRIGONOMETRIC:
                # \sin^{-1} x is arcsin x, not 1/sin x
                if name not in ("sin", "cos", "tan"):
                    raise ExpressionParseError(f"inverse {name}")
                name, power = "arc" + name, None
        trig = name in _TRIGONOMETRIC
        self.trig_depth += trig
        try:
            return self._parse_function_argument(name, power)
        finally:
            self.trig_depth -= trig

    def named_function(self, name: str) -> Node:
        """``\\gcd(12, 18)``, ``lcm (4,6)``, ``\\max\\{3, 5\\}``, ``\\abs{x}``: a name, then its arguments in
        brackets, separated by commas (a list function takes one or more, the others exactly one)."""
        opening = self.take().text if self.peek() is not None else ""
        if opening not in _ARGUMENT_BRACKETS:
            raise ExpressionParseError(f"{name} without its argument in brackets")
        arguments = [self.parse_sum()]
        while self.peek_is(","):
            self.take()
            arguments.append(self.parse_sum())
        self.expect(_ARGUMENT_BRACKETS[opening])
        if len(arguments) > 1 and name not in LIST_FUNCTIONS:
            raise ExpressionParseError(f"{name} takes one argument")
        return Func(name, tuple(arguments))

    def _parse_function_argument(self, name: str, power: Node | None) -> Node:
        base: Node | None = None
        if name == "log" and self.peek_is("_"):
            self.take()
            base = self.parse_argument()
        if self.peek_is("("):
            self.take()
            argument = self.parse_sum()
            self.expect(")")
        elif self.peek_is("{"):
            argument = self.parse_group()
        else:
            argument = self.parse_power()
        node: Node = Func(name, (argument,) if base is None else (argument, base))
        return node if power is None else Pow(node, power)

    def parse_command(self, text: str) -> Node:
        name = text[1:]
        if text in ("\\frac", "\\cfrac"):
            return Div(self.parse_argument(), self.parse_argument())
        if text == "\\binom":
            return Func("binom", (self.parse_argument(), self.parse_argument()))
        if text == "\\sqrt":
            if self.peek_is("["):
                self.take()
                index = self.parse_sum()
                self.expect("]")
                return Func("root", (self.parse_argument(), index))
            return Func("sqrt", (self.parse_argument(),))
        if text in _FUNCTION_COMMANDS:
            return self.parse_function(_FUNCTION_COMMANDS[text])
        if name in NAMED_FUNCTIONS:
            return self.named_function(NAMED_FUNCTIONS[name])
        if text == "\\pi":
            return Const("pi")
        if text == "\\infty":
            return Const("inf")
        if text in ("\\imath", "\\mathrm{i}"):
            return Const("i")
        if name in _GREEK:
            return Sym(name)
        if text == "\\lfloor":
            return self.delimited("floor", "\\rfloor")
        if text == "\\lceil":
            return self.delimited("ceil", "\\rceil")
        raise ExpressionParseError(f"unsupported command {text}")

    def delimited(self, name: str, closing: str) -> Node:
        node = self.parse_sum()
        self.expect(closing)
        return Func(name, (node,))


def _number(text: str) -> Num:
    decimal = "." in text or "e" in text or "E" in text
    if text.endswith("."):
        text = text[:-1]
    mantissa, _, exponent = text.replace("E", "e").partition("e")
    value = Fraction(mantissa) if mantissa else Fraction(0)
    if exponent:
        power = int(exponent)
        if abs(power) > 400:
            raise ExpressionParseError("number out of range")
        value *= Fraction(10) ** power
    return Num(value, decimal)
