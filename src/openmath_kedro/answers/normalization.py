"""Rewrite what people and models actually write into one canonical string per answer.

Only meaning-preserving rewrites live here (delimiters, spacing, ``\\dfrac``, units, thousands separators);
everything that needs to know the value (fractions vs decimals, tuples vs lists) is in ``answer_forms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from openmath_kedro.answers.latex_expression import FUNCTION_NAMES

MAX_ANSWER_CHARS = 2_000  # longer answers are compared as exact strings only (see equivalence.GUARD)

_UNICODE = str.maketrans(
    {
        "\u2212": "-",
        "\u2013": "-",
        "\u00d7": r"\times ",
        "\u00f7": r"\div ",
        "\u00b7": r"\cdot ",
        "\u221a": r"\sqrt",
        "\u03c0": r"\pi ",
        "\u221e": r"\infty ",
        "\u2264": r"\le ",
        "\u2265": r"\ge ",
        "\u2260": r"\ne ",
        "\u00b0": r"^\circ",
        "\u222a": r"\cup ",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2205": r"\emptyset ",
    }
)
_SIMPLE_REWRITES = [
    (re.compile(r"\\[dt]frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\[dt]binom(?![a-zA-Z])"), r"\\binom"),
    (re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)\s*\."), ""),
    (re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:lvert|rvert|vert|mid)(?![a-zA-Z])"), "|"),
    (re.compile(r"\\(?:leqslant|leq|le)(?![a-zA-Z])|<="), r" \\le "),
    (re.compile(r"\\(?:geqslant|geq|ge)(?![a-zA-Z])|>="), r" \\ge "),
    (re.compile(r"\\(?:neq|ne)(?![a-zA-Z])|!="), r" \\ne "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"\\(?:infin|inf)(?![a-zA-Z])"), r"\\infty"),
    (re.compile(r"\\(?:varnothing|emptyset)(?![a-zA-Z])|^\\\{\s*\\\}$"), r"\\emptyset"),
    (re.compile(r"\\mathbb\s*\{?\s*R\s*\}?"), r"(-\\infty, \\infty)"),
    (re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\degree(?![a-zA-Z])|\\circ(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:dots|ldots|cdots)(?![a-zA-Z])"), r"\\ldots"),
]
_TEXT_COMMAND = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|textsf|mbox|mathrm|mathbf|mathit|mathsf|mathtt|operatorname|rm|bf)"
    r"\s*\{([^{}]*)\}"
)
# "10\text{ inches}", "5\text{ cm}^2", "\$18.90": a math value followed by a unit in \text{}.
_TEXT_UNIT = re.compile(
    r"^(?P<value>.*?\S)\s*\\(?:text|textrm|mbox|mathrm)\s*\{\s*(?P<unit>[a-zA-Z][a-zA-Z\s.\-/]*?)\s*\}"
    r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?$"
)
_PLAIN_UNIT = re.compile(
    r"^(?P<value>[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)\s*%?)\s*(?P<unit>[a-zA-Z][a-zA-Z\s.\-/]*?)\s*"
    r"(?:\^\s*\{?\s*[23]\s*\}?)?$"
)
_NOT_UNITS = frozenset({"or", "and", "i", "e", "pi"}) | FUNCTION_NAMES
_SPACE_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|\\,|\\ |~|\\;|\s)(?=\d{3}(?![\d]))")
_COMMA_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|~|\\q?quad(?![a-zA-Z])")  # not the "\\ " of a row break
_WORD_SEPARATORS = re.compile(r"\s+(?:or|and)\s+")
_ASSIGNED_INTERVAL = re.compile(r"^[a-zA-Z]\s*\\in\s*")
_TRAILING_PUNCTUATION = re.compile(r"(?:\s*[.;:,]|\s*\\(?:ldots|quad))+$")
_ARTICLES = re.compile(r"^(?:the|a|an)\s+")


@dataclass(frozen=True, slots=True)
class NormalizedAnswer:
    text: str  # canonical LaTeX-ish text the form parser reads
    percent: bool  # the answer carried a percent sign (then 25 may also be read as 0.25)
    unit: str  # a stripped unit ("inches"); informative only, values decide
    text_key: str  # lower-cased, space-collapsed word form for text answers


def _strip_math_delimiters(text: str) -> str:
    text = text.strip()
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(opening) and text.endswith(closing) and len(text) >= len(opening) + len(closing):
            text = text[len(opening) : len(text) - len(closing)].strip()
    return text


def _unwrap_text_commands(text: str) -> str:
    for _ in range(4):  # \textbf{\text{...}}: a few levels is all real answers use
        unwrapped = _TEXT_COMMAND.sub(lambda match: f" {match.group(1)} ", text)
        if unwrapped == text:
            break
        text = unwrapped
    return text


def make_text_key(text: str) -> str:
    """The comparison key of a word answer: no markup, case or surrounding punctuation."""
    key = _unwrap_text_commands(_strip_math_delimiters(text))
    key = key.replace("\\$", "").replace("$", "").replace("\\%", "%")
    key = _SPACING.sub(" ", key)
    key = _TRAILING_PUNCTUATION.sub("", " ".join(key.split()).lower())
    key = _ARTICLES.sub("", key.strip("\"' "))
    return key.strip()


@lru_cache(maxsize=65_536)
def normalize_answer(raw: str) -> NormalizedAnswer:
    """Canonical text of one extracted answer (cached: golds and majority answers repeat a lot)."""
    text_key = make_text_key(raw[:MAX_ANSWER_CHARS])
    if len(raw) > MAX_ANSWER_CHARS:
        return NormalizedAnswer(raw, False, "", text_key)
    text = _strip_math_delimiters(raw.translate(_UNICODE))
    text = text.replace("\\\\$", "").replace("\\$", "").replace("$", "").replace("\\textdollar", "")
    for pattern, replacement in _SIMPLE_REWRITES:
        text = pattern.sub(replacement, text)
    text = _SPACE_THOUSANDS.sub("", text)
    percent = bool(re.search(r"%", text))
    text = text.replace("\\%", "").replace("%", "")

    unit = ""
    unit_match = _TEXT_UNIT.match(text)
    if unit_match and unit_match.group("unit").strip().lower() not in _NOT_UNITS:
        unit = unit_match.group("unit").strip()
        text = unit_match.group("value")
    text = _unwrap_text_commands(text)
    text = _SPACING.sub(" ", text)
    text = " ".join(text.split())
    text = _TRAILING_PUNCTUATION.sub("", text).strip()
    plain_unit = _PLAIN_UNIT.match(text)
    if plain_unit and plain_unit.group("unit").split()[0].lower() not in _NOT_UNITS:
        unit = unit or plain_unit.group("unit").strip()
        text = plain_unit.group("value").strip()
    text = _ASSIGNED_INTERVAL.sub("", text)
    if _COMMA_THOUSANDS.match(text):
        text = text.replace(",", "")
    text = _WORD_SEPARATORS.sub(", ", text)
    return NormalizedAnswer(text.strip(), percent, unit, text_key)
