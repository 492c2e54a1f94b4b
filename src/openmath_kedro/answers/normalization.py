"""Rewrite what people and models actually write into one canonical string per answer.

Only meaning-preserving rewrites live here (delimiters, spacing, ``\\dfrac``, units, thousands separators);
everything that needs to know the value (fractions vs decimals, tuples vs lists) is in ``answer_forms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from openmath_kedro.answers.extraction import matching_braces
from openmath_kedro.answers.latex_expression import FUNCTION_NAMES

MAX_ANSWER_CHARS = 2_000  # longer answers are compared as exact strings only (equivalence.compare_answers)

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
        "\u2248": r"\approx ",
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
    # Degrees stay in the text as one canonical "^\circ": the parser drops them from a value (40^\circ = 40)
    # and reads them as pi/180 inside a trigonometric function (\cos(90^\circ - t) = \sin t).
    (
        re.compile(
            r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|(?<=\d)\\circ(?![a-zA-Z])"
        ),
        r"^\\circ",
    ),
    (re.compile(r"\^\\circ\s*(?:\\text\s*\{\s*)?[CF]\}?$"), ""),  # 25^\circ C: a temperature unit
    (re.compile(r"\*\*"), "^"),  # Python's power operator (3**(1/3)); LaTeX has no "**"
    (
        re.compile(r"_\{\s*([A-Za-z0-9]+)\s*\}"),
        r"_\1",
    ),  # v_{0} = v_0, 1021_{3} = 1021_3: one token either way
    (re.compile(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))"), ","),  # 12,\!345: a thousands comma with negative space
    (re.compile(r"\\(?:dots|ldots|cdots)(?![a-zA-Z])"), r"\\ldots"),
]
_TEXT_COMMAND = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|mbox|mathrm|mathbf|mathit|mathsf|mathtt|mathcal"
    r"|mathscr|mathfrak|boldsymbol|bm|operatorname|rm|bf)\s*\{([^{}]*)\}"
)
# "10\text{ inches}", "5\text{ cm}^2", "12 \textbf{ cm}": a math value followed by a unit set as text.
_TEXT_UNIT = re.compile(
    r"^(?P<value>.*?\S)\s*\\(?:text|textrm|textbf|textit|textsf|textnormal|mbox|mathrm)\s*"
    r"\{\s*(?P<unit>[a-zA-Z][a-zA-Z\s.\-/]*?)\s*\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?$"
)
# "12 apples", "5 cm", "12kg": a number followed by letters that may be a unit (``_is_plain_unit`` decides).
_PLAIN_UNIT = re.compile(
    r"^(?P<value>[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*%)?)(?P<gap>\s*)(?P<unit>[a-zA-Z][a-zA-Z\s.\-/]*?)\s*"
    r"(?:\^\s*\{?\s*[23]\s*\}?)?$"
)
_NOT_UNITS = frozenset({"or", "and", "i", "e", "pi"}) | FUNCTION_NAMES
# Unit symbols of one or two letters that are no variable in practice. A single letter after a number is a
# variable ("2y", "3n", "4k"), never a unit: reading it as one made "2y" equal "2x". Only \text{} makes a lone
# letter a unit ("3\text{ m}").
_UNIT_SYMBOLS = frozenset(
    "cm mm km nm kg mg ml mL ft yd mi hr hrs min mins sec secs mph kph lb lbs oz sq cc".split()
)
_UNIT_WORD_SPLIT = re.compile(r"[\s.\-/]+")
_SPACED_OPERATOR = re.compile(r"\s[-/]\s")
_SPACE_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|\\,|\\ |~|\\;|\s)(?=\d{3}(?![\d]))")
_COMMA_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|~|\\q?quad(?![a-zA-Z])")  # not the "\\ " of a row break
_WORD_SEPARATORS = re.compile(r"\s+(?:or|and)\s+")
_ASSIGNED_INTERVAL = re.compile(r"^[a-zA-Z]\s*\\in\s*")
_TRAILING_PUNCTUATION = re.compile(r"(?:\s*[.;:,]|\s*\\(?:ldots|quad))+$")
_ARTICLES = re.compile(r"^(?:the|a|an)\s+")
_WHOLE_BOX = re.compile(r"^\\(?:boxed|fbox)(?![a-zA-Z])\s*")
_TRAILING_PERIOD = re.compile(r"\s*\.\s*$")  # "\\boxed{12}." ends a sentence
# "2 3/4" written in plain text is the mixed number 2 + 3/4 (a proper fraction after a whole number), not 2*3/4.
_PLAIN_MIXED_NUMBER = re.compile(
    r"^(?P<sign>[-+]?)(?P<whole>\d+)\s+(?P<numerator>\d+)\s*/\s*(?P<denominator>\d+)$"
)
_CLOCK_TIME = re.compile(r"^(?P<hours>\d{1,2}):(?P<minutes>[0-5]\d)(?::(?P<seconds>[0-5]\d))?$")
# "18" in quotes (models quote their answer): the quotes are no part of it. Double quotes only: a single
# quote is a prime (f'(x)).
_QUOTED = re.compile(r'^(?:"([^"]+)"|\u201c([^\u201c\u201d]+)\u201d|``([^`\']+)\'\')$')
MAX_WRAPPERS = 8  # $\boxed{\fbox{...}}$ wrapped deeper than this is left as it is


@dataclass(frozen=True, slots=True)
class NormalizedAnswer:
    text: str  # canonical LaTeX-ish text the form parser reads
    percent: bool  # the answer carried a percent sign (then 25 may also be read as 0.25)
    unit: str  # a stripped unit ("inches"); informative only, values decide
    text_key: str  # lower-cased, space-collapsed word form for text answers; empty past MAX_ANSWER_CHARS


def _is_plain_unit(unit: str, *, spaced: bool) -> bool:
    """Words (``apples``, ``square feet``) after a space, or known unit symbols (``cm``, ``12kg``)."""
    if _SPACED_OPERATOR.search(unit):
        return False  # "5 apples - oranges": arithmetic on words, not a unit the value can drop
    words = [word for word in _UNIT_WORD_SPLIT.split(unit) if word]
    if not words or words[0].lower() in _NOT_UNITS:
        return False
    return all(
        word in _UNIT_SYMBOLS or (spaced and len(word) >= 3 and word.lower() not in _NOT_UNITS)
        for word in words
    )


def _strip_quotes(text: str) -> str:
    quoted = _QUOTED.match(text.strip())
    return next(group for group in quoted.groups() if group is not None) if quoted else text


def unwrap_whole_answer(text: str) -> str:
    """Strip what wraps a whole answer: ``\\boxed{}``/``\\fbox{}``, ``$...$``, ``$$...$$``, ``\\[...\\]``,
    ``\\(...\\)`` and a final period, in any nesting (``$\\boxed{12}$.``); a box that is only part of the
    answer stays."""
    for _ in range(MAX_WRAPPERS):
        before = text
        text = _strip_math_delimiters(_TRAILING_PERIOD.sub("", text.strip()))
        box = _WHOLE_BOX.match(text)
        if box:
            rest = text[box.end() :]
            if rest.startswith("{"):
                if matching_braces(rest).get(0) == len(rest) - 1:
                    text = rest[1:-1].strip()
            elif rest and re.fullmatch(r"[^\s${}\\]+", rest):
                text = rest  # \boxed 5: LaTeX takes one token
        if text == before:
            break
    return text


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
    key = _unwrap_text_commands(unwrap_whole_answer(text))
    key = key.replace("\\$", "").replace("$", "").replace("\\%", "%")
    key = _SPACING.sub(" ", key)
    key = _TRAILING_PUNCTUATION.sub("", " ".join(key.split()).lower())
    key = _ARTICLES.sub("", key.strip("\"' "))
    return key.strip()


@lru_cache(maxsize=65_536)
def normalize_answer(raw: str) -> NormalizedAnswer:
    """Canonical text of one extracted answer (cached: golds and majority answers repeat a lot).

    An answer past ``MAX_ANSWER_CHARS`` is left as it is, with no text key: only the exact full string may
    match it. A key of its first characters made two long answers that differ after the cut equal."""
    if len(raw) > MAX_ANSWER_CHARS:
        return NormalizedAnswer(raw, False, "", "")
    text_key = make_text_key(raw)
    text = unwrap_whole_answer(_strip_quotes(unwrap_whole_answer(raw.translate(_UNICODE))))
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
    if plain_unit and _is_plain_unit(plain_unit.group("unit"), spaced=bool(plain_unit.group("gap"))):
        unit = unit or plain_unit.group("unit").strip()
        text = plain_unit.group("value").strip()
    text = _ASSIGNED_INTERVAL.sub("", text)
    if _COMMA_THOUSANDS.match(text):
        text = text.replace(",", "")
    mixed = _PLAIN_MIXED_NUMBER.match(text)
    if mixed and int(mixed.group("numerator")) < int(mixed.group("denominator")):
        text = f"{mixed.group('sign')}({mixed.group('whole')}+{mixed.group('numerator')}/{mixed.group('denominator')})"
    clock = _CLOCK_TIME.match(text)
    if clock and int(clock.group("hours")) <= 24:
        # 8:15 = 08:15 = 08:15:00 (a time); then read as a ratio of numbers, so 1:30 still equals 01:30
        seconds = clock.group("seconds")
        text = f"{int(clock.group('hours')):02d}:{clock.group('minutes')}" + (
            f":{seconds}" if seconds and seconds != "00" else ""
        )
    text = _WORD_SEPARATORS.sub(", ", text)
    return NormalizedAnswer(text.strip(), percent, unit, text_key)
