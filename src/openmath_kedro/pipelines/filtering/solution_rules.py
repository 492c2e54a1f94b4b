"""The per-solution rules of OpenMathInstruct-1 as polars expressions over the solution text.

Everything here is vectorized (regexes run in polars' Rust engine) so that 1.8M solutions take seconds;
the only Python loop is ``find_boxed_answers`` on the few solutions whose boxes the fast pattern cannot settle.
"""

from __future__ import annotations

import polars as pl

from openmath_kedro.answers import find_boxed_answers
from openmath_kedro.prompts import CODE_END, CODE_START, OUTPUT_END, OUTPUT_START

# A box command as answers.find_boxed_answers sees it: \boxed or \fbox not followed by a letter (counted as
# all \boxed/\fbox minus those followed by a letter: Rust regexes have no look-ahead).
BOX_NAME = r"\\(?:boxed|fbox)"
BOX_NAME_THEN_LETTER = r"\\(?:boxed|fbox)[a-zA-Z]"
BOX_COMMAND = r"\\(?:boxed|fbox)(?:[^a-zA-Z]|$)"
# Balanced braces up to three levels deep (\{ and \} are content, as in find_boxed_answers).
_PLAIN = r"(?:[^{}\\]|\\.)"
_BRACES_1 = rf"\{{{_PLAIN}*\}}"
_BRACES_2 = rf"\{{(?:{_PLAIN}|{_BRACES_1})*\}}"
_BRACES_3 = rf"\{{(?:{_PLAIN}|{_BRACES_2})*\}}"
# One box whose brace group closes (the one-token form "\boxed 5" is left to find_boxed_answers).
CLOSED_BOX = rf"(?s)\\(?:boxed|fbox)[ \t\n]*{_BRACES_3}"
# From a box to the end of the line on which it closes.
ANSWER_LINE = rf"(?s)^\\(?:boxed|fbox)[ \t\n]*(?:{_BRACES_3})?[^\n]*"
BOX_PREFIXES = ["\\boxed", "\\fbox"]

CODE_TAG = "</?llm-code(?:-output)?>"
_ONE_ROUND = f"{CODE_START}{CODE_END}{OUTPUT_START}{OUTPUT_END}"
WELL_FORMED_TAG_SEQUENCE = f"^(?:{_ONE_ROUND})*$"
# What the sandbox writes when a block fails (only read when the table has no code_errors column).
ERROR_IN_OUTPUT = r"(?m)^(?:Traceback \(most recent call last\):|[A-Z]\w*(?:Error|Exception): )"

# Characters whose placement does not make two solutions different. Each is removed in its own literal
# pass: polars' literal replacement is several times faster than one regex over a character class.
LAYOUT_CHARACTERS = (" ", "\n", "\t", "$")


def boxed_answer_counts(texts: pl.Series) -> pl.Series:
    """How many answers ``find_boxed_answers`` finds in each text (nested boxes count once, open ones not).

    Texts with no box command, or exactly one whose braces close, are counted in polars; the rest (several
    commands, or one the pattern cannot settle) go through ``find_boxed_answers`` itself, on the text from
    the first box command on (what comes before a box cannot change how it closes).
    """
    commands = texts.str.count_matches(BOX_NAME) - texts.str.count_matches(BOX_NAME_THEN_LETTER)
    settled = pl.select(
        pl.when(commands == 0)
        .then(pl.lit(0, dtype=pl.UInt32))
        .when((commands == 1) & texts.str.contains(CLOSED_BOX))
        .then(pl.lit(1, dtype=pl.UInt32))
        .otherwise(None)
    ).to_series()
    unsettled = settled.is_null().arg_true()
    if unsettled.len():
        hard = texts.gather(unsettled)
        from_first_box = pl.select(_from_first_box(pl.lit(hard))).to_series().to_list()
        counted = [len(find_boxed_answers(text)) for text in from_first_box]
        settled = settled.scatter(unsettled, pl.Series(counted, dtype=pl.UInt32))
    return settled.rename("boxed_answers")


def _from_first_box(text: pl.Expr) -> pl.Expr:
    first_box = text.str.find(BOX_COMMAND)
    return text.cast(pl.Binary).bin.slice(first_box).cast(pl.String)


def trimmed_after_answer(text: pl.Expr) -> pl.Expr:
    """The text up to the end of the line where its last box closes (unchanged when it has no box).

    Byte offsets throughout (``find_many`` returns them; ``bin.slice`` takes them): the cut falls at a
    newline or the end of the text, so the result is valid UTF-8 whatever the text before it.
    """
    last_box = text.str.find_many(BOX_PREFIXES).list.last()
    as_bytes = text.cast(pl.Binary)
    answer_line = as_bytes.bin.slice(last_box).cast(pl.String).str.extract(ANSWER_LINE, 0).str.len_bytes()
    trimmed = as_bytes.bin.slice(0, last_box + answer_line).cast(pl.String)
    return pl.when(last_box.is_null()).then(text).otherwise(trimmed)


def code_tags_well_formed(text: pl.Expr) -> pl.Expr:
    """True when the code tags come in complete rounds: code, its closing tag, the output block, closed."""
    return text.str.extract_all(CODE_TAG).list.join("").str.contains(WELL_FORMED_TAG_SEQUENCE)


def code_tag_sequence(text: pl.Expr) -> pl.Expr:
    """The tags of a text in order, for the audit (shortened)."""
    return text.str.extract_all(CODE_TAG).list.join(" ").str.head(160)


def uses_code(text: pl.Expr) -> pl.Expr:
    return text.str.contains(CODE_START, literal=True)


def code_error_flags(frame: pl.DataFrame, text: pl.Expr) -> pl.Expr:
    """True where a code block failed: ``code_errors`` > 0 or finish reason ``code_error``.

    Tables without a ``code_errors`` column (all null) are read from the text: an output block with a
    traceback or an ``...Error:`` line.
    """
    if frame["code_errors"].null_count() == frame.height:
        from_counts = text.str.contains(ERROR_IN_OUTPUT)
    else:
        from_counts = pl.col("code_errors").fill_null(0) > 0
    return from_counts | (pl.col("finish_reason").fill_null("") == "code_error")


def near_duplicate_key(text: pl.Expr) -> pl.Expr:
    """A hash of the text without spaces, tabs, newlines and ``$``: equal keys are near duplicates."""
    for character in LAYOUT_CHARACTERS:
        text = text.str.replace_all(character, "", literal=True)
    return text.hash(seed=0)
