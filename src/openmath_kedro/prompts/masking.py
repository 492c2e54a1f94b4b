"""Masked reference solutions: does a text still give the answer away, and a deterministic masker.

OpenMathInstruct-1 shows the teacher a reference solution with the answer hidden, so the teacher writes
its own solution instead of copying the final number. These pure functions check a masked text and mask
one when no model did it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

# Digits joined by commas are one number only when the whole run groups thousands (`1,000`, `12,345,678`);
# otherwise the commas separate a list (`2,3,5,7`, `2,3,500`) whose items are numbers of their own. Right after
# `(`, `[` or `\{` one comma separates a pair (`(1,135)`, `[-100,100]`, `\{1,343\}`: all 117 such runs in the
# GSM8K/MATH train sets are pairs); a list elsewhere that looks like thousands (`n=669,670`) reads as one number.
# Bumped when the masks change for the same input (2: numbers after commas, leading-dot decimals, unbraced
# \boxed); generation run keys and output provenance include it, so masked prompts made by an older masker
# are not reused.
MASKING_SCHEME = 2
_PAIR_OPENING = r"(?:(?<=[(\[])|(?<=\\\{)|(?<=[(\[][-+])|(?<=\\\{[-+]))"
_INTEGER = rf"(?:(?<!\d,)(?!{_PAIR_OPENING}\d{{1,3}},\d{{3}}(?![\d,]))\d{{1,3}}(?:,\d{{3}})+(?!,?\d)|\d+)"
_NUM = rf"(?:{_INTEGER}(?:\.\d+)?|\.\d+)"  # `.5` too
_LATEX_FRAC = re.compile(
    rf"\\[dt]?frac\s*(?:\{{\s*(?P<fn>{_NUM})\s*\}}|(?P<fn1>\d))\s*(?:\{{\s*(?P<fd>{_NUM})\s*\}}|(?P<fd1>\d))"
)
# not a piece of a longer number (`3.5`, `1.2.3`); a comma before is fine (see _INTEGER)
_SLASH_FRAC = re.compile(rf"(?<![\d.])(?P<sn>{_NUM})\s*/\s*(?P<sd>{_NUM})(?![\d])")
_NUMBER = re.compile(rf"(?<![\d.])(?P<n>{_NUM})(?![\d])")
_ANY_TOKEN = re.compile(f"{_LATEX_FRAC.pattern}|{_SLASH_FRAC.pattern}|{_NUMBER.pattern}")
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
# `\boxed 2` without braces: LaTeX boxes one token; read as openmath_kedro.answers reads it (a word or number
# up to a space, `$`, brace or backslash, or one command), so what the masker hides is what grading reads
_UNBRACED_ARGUMENT = re.compile(r"[^\s${}\\]+|\\[A-Za-z]+")
_CONTROL_WORD_END = re.compile(r"\\[A-Za-z]+\Z")  # searched with an end position: the command before it
_CALCULATOR = re.compile(r"<<[^<>]*>>")  # GSM8K's `<<48/2=24>>` annotations repeat every result
_UNITS = re.compile(r"\\(?:text|mbox|mathrm)\s*\{[^{}]*\}|\^\s*\{?\\circ\}?|\\[$%!,;]|[$%\s]")
# Structural constants kept even when the problem does not mention them (x^2, 2x, 1/2, ...).
_ALWAYS_KEPT = frozenset({Fraction(0), Fraction(1), Fraction(2)})


@dataclass(frozen=True)
class _Token:
    value: Fraction
    negative: bool


def _number(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _normalize(text: str) -> str:
    # thousands separators as LaTeX writes them, and the unicode minus
    text = text.replace("{,}", ",").replace("\u2212", "-")
    return re.sub(r"(?<=\d)(?:\\,|,\\!)(?=\d{3})", ",", text)


def _match_value(match: re.Match[str]) -> Fraction | None:
    """The value of a token matched by _ANY_TOKEN (None for a zero denominator)."""
    groups = match.groupdict()
    if groups.get("n") is not None:
        return _number(groups["n"])
    numerator = groups.get("fn") or groups.get("fn1") or groups.get("sn")
    denominator = groups.get("fd") or groups.get("fd1") or groups.get("sd")
    if numerator is None or denominator is None or _number(denominator) == 0:
        return None
    return _number(numerator) / _number(denominator)


def _tokens(text: str) -> Iterator[_Token]:
    """Every number in ``text``: plain numbers (also those inside fractions) and whole fractions."""
    text = _normalize(text)
    for pattern in (_LATEX_FRAC, _SLASH_FRAC, _NUMBER):
        for match in pattern.finditer(text):
            value = _match_value(match)
            if value is not None:
                yield _Token(value=value, negative=match.start() > 0 and text[match.start() - 1] == "-")


def answer_value(answer: str) -> Fraction | None:
    """The rational value of a plain-number answer (`42`, `-3.5`, `1,000`, `\\frac{1}{2}`, `3/4`, `25\\%`)."""
    text = _UNITS.sub("", _normalize(answer)).replace("\\left", "").replace("\\right", "")
    text = re.sub(r"^[A-Za-z]=", "", text)  # `x = 5` answers the value 5
    sign = -1 if text.startswith("-") else 1
    text = text.removeprefix("-").removeprefix("+")
    for pattern in (_LATEX_FRAC, _SLASH_FRAC, _NUMBER):
        if (match := pattern.fullmatch(text)) is not None:
            value = _match_value(match)
            return None if value is None else sign * value
    return None


def _plain_latex(text: str) -> str:
    text = _normalize(text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return re.sub(r"\\left|\\right|\\[!,;:]", "", text).replace("$", " ")  # and spacing commands (`\!`)


def _compact(text: str) -> str:
    return re.sub(r"\s", "", _plain_latex(text))


def masked_solution_leaks_answer(masked: str, answer: str) -> bool:
    """True when ``answer`` still appears in ``masked``: as a number of the same value for plain-number
    answers (so `\\frac{1}{2}`, `1/2` and `0.5` all count), as the same LaTeX (spaces ignored) otherwise."""
    value = answer_value(answer)
    if value is not None:
        return any(t.value == abs(value) and (value >= 0 or t.negative) for t in _tokens(masked))
    needle = _compact(answer)
    if not needle:
        return False
    if len(needle) == 1:  # a single letter or symbol counts only as a word of its own
        return re.search(rf"(?<![A-Za-z]){re.escape(needle)}(?![A-Za-z])", masked) is not None
    if needle[0].isalpha() or needle[-1].isalpha():
        # so does an answer that begins or ends with a letter, as the masker replaces it (`CD`, not that of
        # `BCD`; `-i`, not that of `1 - iz`); spaces between its tokens are still ignored
        pattern = r"\s*".join(map(re.escape, re.findall(r"\\[A-Za-z]+|.", needle)))
        pattern = (r"(?<![A-Za-z\\])" if needle[0].isalpha() else "") + pattern
        pattern += r"(?![A-Za-z])" if needle[-1].isalpha() else ""
        return re.search(pattern, _plain_latex(masked)) is not None
    return needle in _compact(masked)


def _boxed_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every `\\boxed{...}` with balanced braces and every unbraced `\\boxed 2`."""
    spans = []
    for match in _BOX_COMMAND.finditer(text):
        if spans and match.start() < spans[-1][1]:
            continue  # a box inside a box goes with the outer one
        if text.startswith("{", match.end()):
            depth, index = 1, match.end() + 1
            while index < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[index], 0)
                index += 1
            if depth == 0:
                spans.append((match.start(), index))
        elif argument := _UNBRACED_ARGUMENT.match(text, match.end()):
            spans.append((match.start(), argument.end()))
    return spans


def _letters(*texts: str) -> Iterator[str]:
    """Symbols for masked values that the texts do not already use as words of their own."""
    used = set(re.findall(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])", " ".join(texts)))
    # I and O read like 1 and 0
    singles = [c for c in string.ascii_uppercase if c not in used and c not in "IO"]
    yield from singles
    index = 1
    while True:
        yield from (f"{c}_{index}" for c in singles or ["N"])
        index += 1


def mask_numbers_heuristically(solution: str, answer: str, *, problem: str = "") -> str:
    """Deterministic fallback masking: the final answer and every number the problem does not state
    (besides 0, 1 and 2) become letters, the same letter for the same value; `\\boxed{}` goes."""
    text = _normalize(_CALCULATOR.sub("", solution))
    value = answer_value(answer)
    hidden = abs(value) if value is not None else None
    kept = {t.value for t in _tokens(problem)} | _ALWAYS_KEPT
    kept.discard(hidden)
    letters = _letters(solution, problem)
    names: dict[object, str] = {}

    def name(key: object) -> str:
        if key not in names:
            names[key] = next(letters)
        return names[key]

    answer_key = hidden if hidden is not None else "answer"
    for start, end in reversed(_boxed_spans(text)):
        text = text[:start] + _unglued(text, start, name(answer_key)) + text[end:]
    if hidden is None and (literal := answer.strip()):
        # only where it stands alone: the answer `n` is not the n of `\binom` or of a word
        pattern = (r"(?<![A-Za-z\\])" if literal[0].isalpha() else "") + re.escape(literal)
        pattern += r"(?![A-Za-z])" if literal[-1].isalpha() else ""
        text = re.sub(pattern, lambda match: _unglued(match.string, match.start(), name(answer_key)), text)

    def masked(match: re.Match[str]) -> str:
        groups = match.groupdict()
        token_value = _match_value(match)
        if token_value is None or token_value in kept:
            compound = groups.get("n") is None
            # a kept fraction may still hold the answer, or unstated numbers, inside it
            return _NUMBER.sub(replace, match.group(0)) if compound else match.group(0)
        if groups.get("sn") is not None and token_value != hidden:
            return _NUMBER.sub(replace, match.group(0))  # a division, not a value: mask its parts
        return name(token_value)

    def replace(match: re.Match[str]) -> str:
        return _unglued(match.string, match.start(), masked(match))

    return _ANY_TOKEN.sub(replace, text)


def _unglued(text: str, start: int, replacement: str) -> str:
    """``replacement`` for the text at ``start``, after a space where a letter would lengthen the command before
    it (`\\cdot5` masked as `\\cdotA` is another command; `\\cdot A` is the product)."""
    if replacement[:1].isalpha() and _CONTROL_WORD_END.search(text, max(0, start - 40), start):
        return " " + replacement
    return replacement
