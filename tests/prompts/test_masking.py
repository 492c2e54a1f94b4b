"""Masked reference solutions: the leak check and the heuristic masker, also on every GSM8K/MATH train solution.

The masker is checked on the real data with an oracle of its own (below), not with the masker's helpers: a
bug in their shared number reading would otherwise hide the leaks it causes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from openmath_kedro.answers import find_boxed_answers
from openmath_kedro.prompts import answer_value, mask_numbers_heuristically, masked_solution_leaks_answer

MATH_SUBJECTS = ["algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus"]  # fmt: skip

# Reference solutions whose masked text still shows the answer, by `<subject>/<line>` of the MATH train file
# (`gsm8k/<line>` for GSM8K train). A new leak fails the test, and so does a fixed one, so this list stays exact.
# Written differently in the text than in the box, so the literal replacement misses them:
INHERENT_LEAKS = {
    "algebra/76",  # \sqrt{3}-1, written `\sqrt{3} - 1`
    "algebra/91",  # \!\sqrt{21}, written `\sqrt{21}`
    "algebra/142",  # [1,\infty), written `[1, \infty)`
    "intermediate_algebra/507",  # 0,1: "degrees 0, 1, 2, ..."
    "precalculus/444",  # 2^{2008} -2, written `2^{2008}-2`
    "precalculus/543",  # \sqrt{x^2+y^2+z^2}, written with spaces
}


@dataclass(frozen=True)
class Reference:
    id: str
    problem: str
    solution: str
    answer: str


@pytest.fixture(scope="module")
def references(shared_datasets: Path) -> list[Reference]:
    """Every GSM8K and MATH train solution with its answer (GSM8K's `####` line cut off, MATH's last box)."""
    rows = []
    with (shared_datasets / "gsm8k" / "train.jsonl").open() as lines:
        for line, row in enumerate(map(json.loads, lines)):
            reasoning, _, answer = row["answer"].rpartition("####")
            rows.append(
                Reference(
                    f"gsm8k/{line}", row["question"], reasoning.strip(), answer.strip().replace(",", "")
                )
            )
    for subject in MATH_SUBJECTS:
        with (shared_datasets / "math" / "train" / f"hendrycks_math_{subject}_train.json").open() as lines:
            for line, row in enumerate(map(json.loads, lines)):
                if (boxes := find_boxed_answers(row["solution"])) and boxes[-1]:
                    rows.append(Reference(f"{subject}/{line}", row["problem"], row["solution"], boxes[-1]))
    return rows


# ---------------------------------------------------------------------------------------------------------------
# The oracle: the answer's spellings searched in the text. It shares no code with masking.py and reads numbers
# another way (spellings of one value instead of every number's value), so the two err differently.
_SPACING = re.compile(r"\\left|\\right|\\[!,;: ]|\$")
_DIGIT_GROUP = re.compile(r"(?<=\d)(?:\{,\}|,\\!|\\,)(?=\d{3}(?!\d))")
_UNIT = re.compile(r"\\(?:text|mbox|mathrm)\{[^{}]*\}|\^\{?\\circ\}?|\\%|%|\\\$|\s")
_LATEX_TOKEN = re.compile(r"\\[A-Za-z]+|\d+(?:\.\d+)?|\S")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_COMMAND = re.compile(r"(?<!\\)\\[A-Za-z]+")  # a LaTeX command, not a line break `\\` and a word


def plain(text: str) -> str:
    """Thousands groups as `1,000`, `\\dfrac` as `\\frac`, spacing commands and `$` as spaces."""
    text = _DIGIT_GROUP.sub(",", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return _SPACING.sub(" ", text)


def oracle_value(answer: str) -> Fraction | None:
    """The value of an answer that is one number (`1,000`, `-3.5`, `.5`, `\\frac{1}{2}`, `3/4`, `x=5`, `25\\%`)."""
    text = re.sub(r"^[A-Za-z]=", "", _UNIT.sub("", plain(answer))).lstrip("+-")
    if text and re.fullmatch(r"(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?", text):
        return Fraction(Decimal(text.replace(",", "")))
    if match := re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}|\\frac(\d)(\d)|(\d+)/(\d+)", text):
        numerator, denominator = (int(group) for group in match.groups() if group is not None)
        return Fraction(numerator, denominator) if denominator else None
    return None


def spellings(value: Fraction) -> list[str]:
    """Regexes for the ways a solution writes the size of ``value`` (the sign is not looked at: stricter)."""
    numerator, denominator = abs(value).numerator, abs(value).denominator
    if denominator == 1:
        return [str(numerator), f"{numerator:,}"]
    forms = [f"{numerator}/{denominator}", rf"\\frac\s*\{{{numerator}\}}\s*\{{{denominator}\}}"]
    if numerator < 10 and denominator < 10:
        forms.append(rf"\\frac\s*{numerator}\s*{denominator}")
    decimal = Decimal(numerator) / Decimal(denominator)
    if Fraction(decimal) == abs(value):  # a terminating decimal
        digits = format(decimal, "f")
        forms += [re.escape(digits), re.escape(digits.removeprefix("0"))]
    return forms


def stands_alone(text: str, start: int, end: int) -> bool:
    """False when ``text[start:end]`` is a piece of a longer number or word: `7` in `170`, `3.7` or `1,700`."""
    first, last, before, after = text[start], text[end - 1], text[:start], text[end:]
    if (first.isdigit() and re.search(r"[\d.]$", before)) or (first == "." and re.search(r"\d$", before)):
        return False
    if last.isdigit() and re.match(r"\d|\.\d", after):
        return False
    if (first.isalpha() and re.search(r"[A-Za-z\\]$", before)) or (
        last.isalpha() and re.match("[A-Za-z]", after)
    ):
        return False
    # digits joined by commas are one number when they group thousands (`1,500`), else a list (`1,9`, `2,3,5`);
    # one comma right after `(`, `[` or `\{` is a pair (`(1,135)`: every such run in the train sets is one); a
    # list elsewhere that looks like thousands (`669,670`) reads as one number, so the oracle misses a leak there
    head = re.search(r"[\d,]*$", before)[0]
    run = (head + text[start:end] + re.match(r"[\d,]*", after)[0]).strip(",")
    opened = re.search(r"(?:[(\[]|\\\{)[-+]?$", before[: len(before) - len(head)]) is not None
    return run == text[start:end] or _THOUSANDS.fullmatch(run) is None or (opened and run.count(",") == 1)


def oracle_leak(masked: str, answer: str) -> str | None:
    """The first place where ``masked`` shows ``answer``: one of its number spellings, or its LaTeX with any
    spacing; None when it shows neither."""
    text = plain(masked)
    patterns = [] if (value := oracle_value(answer)) is None else spellings(value)
    if tokens := _LATEX_TOKEN.findall(plain(answer)):
        patterns.append(r"\s*".join(map(re.escape, tokens)))
    for pattern in patterns:
        for match in re.finditer(pattern, text):
            if stands_alone(text, match.start(), match.end()):
                return match.group(0)
    return None


@pytest.mark.parametrize(
    ("answer", "value"),
    [("42", 42), ("-3.5", Fraction(-7, 2)), ("1,000", 1000), ("\\$1{,}000", 1000), (r"\frac{1}{2}", Fraction(1, 2)),
     (r"-\dfrac{8}{3}", Fraction(-8, 3)), ("3/4", Fraction(3, 4)), (r"25\%", 25), (r"10\text{ inches}", 10),
     ("x = 5", 5), (r"30^\circ", 30), (".99", Fraction(99, 100)), (r"\sqrt{2}", None), ("(1, 2)", None),
     ("x^2+1", None)],
)  # fmt: skip
def test_answer_value(answer, value):
    assert answer_value(answer) == value


@pytest.mark.parametrize(
    ("masked", "answer", "leaks"),
    [
        ("so she earns $12 + $5 = $M", "17", False),
        ("so she earns $12 + $5 = $17.", "17", True),
        ("she has 1,000 apples", "1000", True),
        (r"is $4.5\cdot30,\!000=135,\!000$ dollars", "135000", True),
        ("the total is 170 and 71", "17", False),  # a digit inside a longer number is not the answer
        (r"half of it, $\frac{1}{2}$", "0.5", True),
        ("half of it, 1/2", r"\frac{1}{2}", True),
        ("it is 0.5 of the whole", r"\dfrac{1}{2}", True),
        (r"$\frac{2}{4}$ of it", "1/2", True),
        (r"$\frac{1}{3}$ of it", "1/2", False),
        ("x = -3 works", "-3", True),
        ("x = 5 - 3 works", "-3", False),  # a subtraction is not the negative answer
        ("we get 3 and then q", "-3", False),
        (r"the area is $4\sqrt{3}$ each, so $6 T$", r"24\sqrt{3}", False),
        (r"the area is $24 \sqrt{3}$", r"24\sqrt{3}", True),
        (r"is $\left( 4, \frac{2\pi}{3} \right)$", r"(4,\frac{2\pi}{3})", True),
        ("the answer is $A$ and then", "B", False),
        ("the answer is $B$.", "B", True),
        # an answer that begins or ends with a letter counts as a word of its own, as the masker replaces it
        (r"Looking at triangle $BCD$, we see that $\angle BCD = G^\circ$", "CD", False),  # geometry/828
        (r"so the longest side is $CD$.", "CD", True),
        (r"$1 - iz = -1 + iz \Rightarrow 2 = 2iz$", "-i", False),  # algebra/382
        (r"we get $z = - i$.", "-i", True),
        # numbers after a comma and decimals with a leading dot are numbers too (real snippets, by row id)
        (r"Thus, point $B$ has coordinates $(1,9)$, so the product", "9", True),  # algebra/534
        (r"each of the residue classes $1,3,5,7,9,11,13\pmod{14}$", "7", True),  # number_theory/73
        ('MP("B",(7,4.2),N); MP("C",(10,0),E);', "4.2", True),  # geometry/592, asy coordinates
        ("pair DH = D + (.5,0);", r"\frac{1}{2}", True),  # counting_and_probability/126
        ("four possible pairs: $(1,135)$, $(3,45)$, $(5,27)$", "135", True),  # algebra/597: a pair, not 1135
        # a thousands separator joins one number (gsm8k/177)
        ("out of pocket 27,000-16,000=$11,000", "16", False),
        ("out of pocket 27,000-16,000=$11,000", "16000", True),
    ],
)
def test_leak_check(masked, answer, leaks):
    assert masked_solution_leaks_answer(masked, answer) is leaks


def test_heuristic_masking_of_a_gsm8k_solution(references):
    first = references[0]  # gsm8k/0, Natalia's clips: 48 in April, half as many in May
    assert first.id == "gsm8k/0"
    masked = mask_numbers_heuristically(first.solution, first.answer, problem=first.problem)
    assert (
        masked
        == "Natalia sold 48/2 = A clips in May.\nNatalia sold 48+A = B clips altogether in April and May."
    )


def test_heuristic_masking_keeps_stated_numbers_and_is_deterministic():
    problem = r"What is $\frac{3}{4}$ of 80, plus 7?"
    solution = r"First $\frac{3}{4} \cdot 80 = 60$, then $60 + 7 = \boxed{67}$. Note 60 is even."
    masked = mask_numbers_heuristically(solution, "67", problem=problem)
    # the answer gets the first letter (its box is replaced first), then values in order of appearance
    assert masked == r"First $\frac{3}{4} \cdot 80 = B$, then $B + 7 = A$. Note B is even."
    assert mask_numbers_heuristically(solution, "67", problem=problem) == masked
    # without the problem every number but 0, 1 and 2 is hidden
    assert (
        mask_numbers_heuristically("So 2 x 21 = 42, and 1 more is 43.", "43")
        == "So 2 x A = B, and 1 more is C."
    )


def test_heuristic_masking_avoids_letters_in_use():
    masked = mask_numbers_heuristically(r"Let $A = 5$ and $B = 6$, so $A + B = \boxed{11}$.", "11")
    assert masked == r"Let $A = D$ and $B = E$, so $A + B = C$."


def test_heuristic_masking_of_a_non_numeric_answer():
    solution = r"The side is $2\sqrt{3}$, so the diagonal is $2\sqrt{3} \cdot \sqrt{2} = \boxed{2\sqrt{6}}$."
    masked = mask_numbers_heuristically(solution, r"2\sqrt{6}", problem="A square has side $2\\sqrt{3}$.")
    assert not masked_solution_leaks_answer(masked, r"2\sqrt{6}")
    assert "\\boxed" not in masked and r"2\sqrt{3}" in masked


@pytest.mark.parametrize(
    ("solution", "answer", "problem", "masked"),
    [
        # algebra/597: every item of a list after a comma is read, and `(1,135)` is a pair, not 1135
        (r"135 factors into four possible pairs: $(1,135)$, $(3,45)$, $(5,27)$, and $(9,15)$. The only one of these "
         r"with difference 6 is $(9,15)$, which has a larger integer of $\boxed{15}$.", "15",
         "Two positive integers differ by 6 and their product is 135. What is the larger integer?",
         r"135 factors into four possible pairs: $(1,135)$, $(B,C)$, $(D,E)$, and $(F,A)$. The only one of these "
         r"with difference 6 is $(F,A)$, which has a larger integer of $A$."),
        # geometry/592: coordinates in asy code (B and C are names there, so the letters start at D)
        (r'MP("B",(7,4.2),N); MP("C",(10,0),E); we get $BF = \boxed{4.2}$', "4.2",
         "If $AE=3, DE=5,$ and $CE=7$, then $BF=$", r'MP("B",(7,A),N); MP("C",(D,0),E); we get $BF = A$'),
        # prealgebra/906: decimals with a leading dot; a letter after `\cdot` keeps its space
        (r"$$1.1s\cdot.9s=.99s^2.$$ The ratio of the area of rectangle $R$ to the area of square $S$ will be: "
         r"$$\frac{.99s^2}{s^2}=\boxed{\frac{99}{100}}.$$", r"\frac{99}{100}",
         "The length of the longer side of rectangle $R$ is $10$ percent more than the length of a side of square",
         r"$$Bs\cdot Cs=As^2.$$ The ratio of the area of rectangle $R$ to the area of square $S$ will be: "
         r"$$\frac{As^2}{s^2}=A.$$"),
        # algebra/888: `\boxed 2` without braces goes with its number
        (r"Since we want the largest value of $x$, our answer is $\boxed 2$.", "2",
         r"What is the largest value of $x$, if $\frac{x}{5} + \frac{1}{5x} = \frac{1}{2}$?",
         r"Since we want the largest value of $x$, our answer is $A$."),
        # gsm8k/177: thousands separators join one number (`16,000` is one letter), `.8` is a number
        ("He sold his car for 20000*.8=$<<20000*.8=16000>>16,000\nHe bought the new car for "
         "30,000*.9=$<<30000*.9=27000>>27,000\nThat means he was out of pocket 27,000-16,000=$<<27000-16000=11000>>"
         "11,000", "11000",
         "He sold his $20,000 car for 80% of its value and then was able to haggle to buy a $30,000 sticker price "
         "car for 90% of its value.",
         "He sold his car for 20000*A=$B\nHe bought the new car for 30,000*C=$D\nThat means he was out of pocket "
         "D-B=$E"),
    ],
)  # fmt: skip
def test_heuristic_masking_reads_every_number(solution, answer, problem, masked):
    # the masker's own leak check reads these numbers too: it sees the answer before masking, none after
    assert masked_solution_leaks_answer(solution, answer)
    assert mask_numbers_heuristically(solution, answer, problem=problem) == masked
    assert not masked_solution_leaks_answer(masked, answer)


@pytest.mark.parametrize(
    ("solution", "answer", "problem", "masked"),
    [
        # algebra/1678: a letter right after `\pm` would make `\pmA`, another command
        (r"giving $4a^2=8$, $a^2=2$, and $a=\pm\sqrt{2}$. The greatest possible value of $a$ is $\boxed{\sqrt{2}}$.",
         r"\sqrt{2}", r"Find the greatest $a$ such that $\frac{7\sqrt{(2a)^2+(1)^2}-4a^2-1}{\sqrt{1+4a^2}+3}=2$.",
         r"giving $4a^2=B$, $a^2=2$, and $a=\pm A$. The greatest possible value of $a$ is $A$."),
        # counting_and_probability/583: the answer `n` goes where it stands alone, not out of `\dbinom` or words
        (r"$\dbinom{n}{1}=\dfrac{n!}{1!(n-1)!}=\boxed{n}$.  Also, $\binom{n}{1}$ is the number of ways to choose 1 "
         r"object out of $n$.", "n", r"What is $\dbinom{n}{1}$ for any positive integer $n$?",
         r"$\dbinom{A}{1}=\dfrac{A!}{1!(A-1)!}=A$.  Also, $\binom{A}{1}$ is the number of ways to choose 1 "
         r"object out of $A$."),
    ],
)  # fmt: skip
def test_heuristic_masking_keeps_latex_commands_and_words_whole(solution, answer, problem, masked):
    assert mask_numbers_heuristically(solution, answer, problem=problem) == masked


def test_heuristic_masking_of_a_box_in_a_box():
    # the outer box is the answer; masking the inner one first used to cut the text after it
    assert mask_numbers_heuristically(r"so $\boxed{\boxed{5}}$ here.", "5") == "so $A$ here."


@pytest.mark.parametrize(
    ("text", "answer", "shown"),
    [("she has 1,000 apples", "1000", "1,000"), (r"is $135{,}000$", "135,000", "135,000"), ("so 17.", "17", "17"),
     ("the pair (1,9) works", "9", "9"), ("primes 2,3,5,7", "5", "5"), ("it is .5 of it", r"\frac{1}{2}", ".5"),
     (r"$\dfrac{1}{2}$", "0.5", r"\frac{1}{2}"), (r"$\frac12$", "1/2", r"\frac12"), ("x = 5 - 3", "-3", "3"),
     (r"$\sqrt{3} - 1$", r"\sqrt{3}-1", r"\sqrt{3} - 1"), ("the answer is B.", "B", "B"),
     ("170 and 71 and 1.7 and 17.5", "17", None), ("1,700 and 2,170", "17", None), ("so 1,500.", "500", None),
     ("(1,500)", "500", "500"),
     ("Also, A.", "A", "A"), ("Area is 4", "A", None), (r"$\frac{1}{3}$", "1/2", None), (r"$\pi r$", r"\pi", r"\pi")],
)  # fmt: skip
def test_the_oracle_finds_an_answer_only_where_it_stands(text, answer, shown):
    assert oracle_leak(text, answer) == shown


def test_every_train_solution_is_masked_without_new_leaks(references):
    assert len(references) == 7473 + 7498  # every GSM8K train solution, every MATH train solution with a box
    leaks, boxed, shown_unmasked, seen_by_the_masker = {}, set(), {"gsm8k": 0, "math": 0}, set()
    for ref in references:
        masked = mask_numbers_heuristically(ref.solution, ref.answer, problem=ref.problem)
        assert "<<" not in masked, ref.id
        # no letter glued to a command (`\cdotA`) nor put into one (`\biAom`): every command was there before
        assert set(_COMMAND.findall(masked)) <= set(_COMMAND.findall(ref.solution)), ref.id
        if "\\boxed" in masked:
            boxed.add(ref.id)
        if where := oracle_leak(masked, ref.answer):
            leaks[ref.id] = (ref.answer, where)
        if masked_solution_leaks_answer(masked, ref.answer):
            seen_by_the_masker.add(ref.id)
        shown_unmasked["gsm8k" if ref.id.startswith("gsm8k/") else "math"] += (
            oracle_leak(ref.solution, ref.answer) is not None
        )
    # the oracle does see answers: every MATH solution boxes it, most GSM8K reasonings state it
    assert shown_unmasked == {"gsm8k": pytest.approx(7473, rel=0.03), "math": 7498}
    assert {ref_id: leaks[ref_id] for ref_id in leaks.keys() - INHERENT_LEAKS} == {}, "new leaks"
    assert sorted(INHERENT_LEAKS - leaks.keys()) == [], "fixed leaks: take them off INHERENT_LEAKS"
    # the masker's own leak check reads the texts as the oracle does: it sees these leaks and no others
    assert seen_by_the_masker == INHERENT_LEAKS
    assert boxed == set()  # `\boxed 2` without braces goes too (algebra/888, algebra/1011)
