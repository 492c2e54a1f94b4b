"""Each benchmark's node on its real raw file, and on malformed input."""

from __future__ import annotations

import pandas as pd
import pytest

from openmath_kedro.params import DataPreparationParams
from openmath_kedro.pipelines.data_preparation import nodes
from openmath_kedro.pipelines.data_preparation.nodes import PROBLEM_COLUMNS
from openmath_kedro.pipelines.data_preparation.raw_formats import RawDataError
from tests.conftest import make_raw

COUNTS = {
    "gsm8k": {"train": 7473, "test": 1319},
    "math": {"train": 7500, "test": 5000},
    "math500": {"test": 500},
    "svamp": {"test": 1000},
    "gsm_hard": {"test": 1319},
    "asdiv": {"test": 2215},
    "algebra222": {"test": 222},
    "mawps": {"test": 2065},
    "tabmwp": {"test": 1000},
}
PARAMS = DataPreparationParams(expected_counts=COUNTS)
MATH_TRAIN = [f"math/train/hendrycks_math_{subject}_train.json" for subject in nodes.MATH_SUBJECTS]


def params_expecting(benchmark: str, split: str, count: int, *, allow: bool = False) -> DataPreparationParams:
    return DataPreparationParams(expected_counts={benchmark: {split: count}}, allow_count_mismatch=allow)


def row(table: pd.DataFrame, problem_id: str) -> dict:
    return table.set_index("id").loc[problem_id].to_dict()


def assert_schema(table: pd.DataFrame, benchmark: str, split: str) -> None:
    assert list(table.columns) == PROBLEM_COLUMNS
    assert table["id"].is_unique
    assert (table["benchmark"] == benchmark).all() and (table["split"] == split).all()
    assert table["id"].iloc[-1] == f"{benchmark}/{split}/{len(table) - 1}"
    assert table["problem"].str.len().min() > 0


class TestGsm8k:
    def test_real_files(self, shared_raw):
        train, test = nodes.prepare_gsm8k(
            shared_raw("gsm8k/train.jsonl"), shared_raw("gsm8k/test.jsonl"), PARAMS
        )
        assert_schema(train, "gsm8k", "train")
        assert_schema(test, "gsm8k", "test")
        first = row(test, "gsm8k/test/0")
        assert first["expected_answer"] == "18"
        assert first["reference_solution"].endswith("$<<9*2=18>>18 every day at the farmer’s market.")
        # thousands separators in '####' answers are removed: '#### 1,080' -> '1080'
        assert not train["expected_answer"].str.contains(",").any()
        assert train["expected_answer"].str.fullmatch(r"-?\d+").all()

    def test_solution_without_final_answer(self):
        raw = make_raw("gsm8k/test.jsonl", '{"question": "1+1?", "answer": "It is 2."}\n')
        with pytest.raises(
            RawDataError, match=r"^gsm8k/test\.jsonl, line 1, field 'answer': no final answer after '####'"
        ):
            nodes.prepare_gsm8k(raw, raw, PARAMS)

    def test_missing_question(self):
        raw = make_raw(
            "gsm8k/train.jsonl", '{"question": "1+1?", "answer": "#### 2"}\n{"answer": "#### 3"}\n'
        )
        with pytest.raises(RawDataError, match=r"gsm8k/train\.jsonl, line 2, field 'question': missing"):
            nodes.prepare_gsm8k(raw, raw, PARAMS)


class TestMath:
    def test_real_files(self, shared_raw):
        train, test = nodes.prepare_math(PARAMS, shared_raw("math/test.jsonl"), *map(shared_raw, MATH_TRAIN))
        assert_schema(train, "math", "train")
        assert_schema(test, "math", "test")
        first = row(test, "math/test/0")
        assert first["expected_answer"] == "2"
        assert first["metadata"] == {"level": 3, "subject": "Algebra"}
        subjects = pd.Series([m["subject"] for m in train["metadata"]]).value_counts().to_dict()
        assert subjects == {
            "Algebra": 1744, "Intermediate Algebra": 1295, "Prealgebra": 1205, "Geometry": 870,
            "Number Theory": 869, "Counting & Probability": 771, "Precalculus": 746,
        }  # fmt: skip
        # "\boxed 2" (no braces) in the algebra train file, line 889
        assert row(train, "math/train/888")["expected_answer"] == "2"
        # the two empty boxes of the number theory train file keep their rows, without an answer
        assert train["expected_answer"].isna().sum() == 2

    def test_solution_without_boxed_answer(self):
        raw = make_raw(
            "math/test.jsonl",
            '{"problem": "p", "level": "Level 1", "type": "Algebra", "solution": "so it is $\\\\boxed{3}$."}\n'
            '{"problem": "q", "level": "Level 2", "type": "Algebra", "solution": "the answer is 4."}\n',
        )
        with pytest.raises(RawDataError, match=r"math/test\.jsonl, line 2, field 'solution': no \\boxed"):
            nodes.prepare_math(DataPreparationParams(expected_counts={"math": {"train": 0, "test": 2}}), raw)


class TestMath500:
    def test_real_file(self, shared_raw):
        table = nodes.prepare_math500(shared_raw("math/math-500/test.jsonl"), PARAMS)
        assert_schema(table, "math500", "test")
        first = row(table, "math500/test/0")
        assert first["expected_answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
        assert first["metadata"] == {
            "level": 2,
            "subject": "Precalculus",
            "unique_id": "test/precalculus/807.json",
        }

    def test_level_must_be_a_number(self):
        raw = make_raw(
            "math/math-500/test.jsonl",
            '{"problem": "p", "solution": "s", "answer": "1", "subject": "Algebra", "level": "2", "unique_id": "u"}\n',
        )
        with pytest.raises(RawDataError, match=r"line 1, field 'level': expected int, got str"):
            nodes.prepare_math500(raw, params_expecting("math500", "test", 1))


class TestSvamp:
    def test_real_file(self, shared_raw):
        table = nodes.prepare_svamp(shared_raw("svamp/SVAMP.json"), PARAMS)
        assert_schema(table, "svamp", "test")
        first = row(table, "svamp/test/0")
        assert first["problem"] == (
            "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack. "
            "How much do you have to pay to buy each pack?"
        )
        assert first["expected_answer"] == "51"
        assert first["metadata"]["equation"] == "( 76.0 - 25.0 )"

    def test_answer_that_is_not_a_number(self):
        raw = make_raw(
            "svamp/SVAMP.json",
            '[{"ID": "c", "Body": "b", "Question": "q", "Equation": "e", "Answer": "51", "Type": "t"}]',
        )
        with pytest.raises(
            RawDataError, match=r"SVAMP\.json, entry 1, field 'Answer': expected int or float, got str"
        ):
            nodes.prepare_svamp(raw, params_expecting("svamp", "test", 1))


class TestGsmHard:
    def test_real_file(self, shared_raw):
        table = nodes.prepare_gsm_hard(shared_raw("gsm-hard/gsmhardv2.jsonl"), PARAMS)
        assert_schema(table, "gsm_hard", "test")
        first = row(table, "gsm_hard/test/0")
        assert "4933828" in first["problem"]
        assert first["expected_answer"] == "-9867630"
        assert row(table, "gsm_hard/test/7")["expected_answer"] == "3244047.0999999996"

    def test_non_finite_target(self):
        raw = make_raw("gsm-hard/gsmhardv2.jsonl", '{"input": "q", "code": "c", "target": NaN}\n')
        with pytest.raises(RawDataError, match=r"line 1, field 'target': not a finite number"):
            nodes.prepare_gsm_hard(raw, params_expecting("gsm_hard", "test", 1))


class TestAsdiv:
    def test_reported_set_drops_multi_answer_problems(self, shared_raw):
        table = nodes.prepare_asdiv(shared_raw("asdiv/ASDiv.xml"), PARAMS)
        assert_schema(table, "asdiv", "test")
        first = row(table, "asdiv/test/0")
        assert first["expected_answer"] == "9"
        assert first["metadata"]["unit"] == "apples"
        assert first["metadata"]["source_id"] == "nluds-0001"
        assert not table["expected_answer"].str.contains(";").any()

    def test_same_problems_as_the_harness_file(self, shared_raw):
        """Our 2215 equal the evaluation-harness JSONL (ToRA) row for row."""
        table = nodes.prepare_asdiv(shared_raw("asdiv/ASDiv.xml"), PARAMS)
        harness = pd.read_json(shared_raw("asdiv/tora/test.jsonl").path, lines=True)
        expected = [
            f"{b.strip()}{'' if b.strip()[-1] in '.?!' else '.'} {q.strip()}"
            for b, q in zip(harness.body, harness.question, strict=True)
        ]
        assert table["problem"].tolist() == expected

    def test_problem_without_answer(self):
        raw = make_raw(
            "asdiv/ASDiv.xml",
            '<C><Problem ID="nluds-0042" Grade="3"><Body>b.</Body><Question>q?</Question>'
            "<Solution-Type>Addition</Solution-Type></Problem></C>",
        )
        with pytest.raises(
            RawDataError, match=r"^asdiv/ASDiv\.xml, Problem ID=nluds-0042, field 'Answer': missing$"
        ):
            nodes.prepare_asdiv(raw, params_expecting("asdiv", "test", 1))


class TestAlgebra222:
    def test_real_file(self, shared_raw):
        table = nodes.prepare_algebra222(shared_raw("algebra222/algebra222.csv"), PARAMS)
        assert_schema(table, "algebra222", "test")
        first = row(table, "algebra222/test/0")
        assert (
            first["problem"]
            == "Suppose that the value of x is −4. What is the value of the expression (3x − 5) + x?"
        )
        assert first["expected_answer"] == "-21"
        assert first["metadata"]["section"] == "Expressions, Relations, and Substitution"

    def test_missing_column(self):
        raw = make_raw("algebra222/algebra222.csv", "question,section,source\nq,s,x\n")
        with pytest.raises(
            RawDataError, match=r"algebra222\.csv, header, field 'final_answer': column missing"
        ):
            nodes.prepare_algebra222(raw, PARAMS)


class TestMawps:
    def test_real_file(self, shared_raw):
        table = nodes.prepare_mawps(shared_raw("mawps/test.jsonl"), PARAMS)
        assert_schema(table, "mawps", "test")
        assert row(table, "mawps/test/0")["expected_answer"] == "43"
        collections = pd.Series([m["collection"] for m in table["metadata"]]).value_counts().to_dict()
        assert collections == {"multiarith": 600, "singleop": 562, "singleeq": 508, "addsub": 395}

    def test_missing_target(self):
        raw = make_raw("mawps/test.jsonl", '{"input": "q", "type": "addsub"}\n')
        with pytest.raises(RawDataError, match=r"mawps/test\.jsonl, line 1, field 'target': missing"):
            nodes.prepare_mawps(raw, params_expecting("mawps", "test", 1))


class TestTabmwp:
    def test_problem_text_includes_table_and_choices(self, shared_raw):
        table = nodes.prepare_tabmwp(shared_raw("tabmwp/problems_test1k.json"), PARAMS)
        assert_schema(table, "tabmwp", "test")
        first = row(table, "tabmwp/test/0")
        assert "Table: Coin collections\nName | Number of coins\nBraden | 76" in first["problem"]
        assert first["problem"].endswith(
            "Question: Some friends discussed the sizes of their coin collections. What is the mean of the numbers?"
        )
        assert first["expected_answer"] == "84"
        second = row(table, "tabmwp/test/1")
        assert second["problem"].endswith("Choices: shortage, surplus")
        assert second["expected_answer"] == "shortage"
        # '4,656' with unit '$' -> '4656'
        assert row(table, "tabmwp/test/3")["expected_answer"] == "4656"
        assert row(table, "tabmwp/test/3")["metadata"]["unit"] == "$"

    def test_missing_table(self):
        raw = make_raw(
            "tabmwp/problems_test1k.json",
            '{"7": {"question": "q", "answer": "1", "ans_type": "integer_number", "solution": "s", "ques_type": "free_text"}}',
        )
        with pytest.raises(RawDataError, match=r"problems_test1k\.json, key '7', field 'table': missing"):
            nodes.prepare_tabmwp(raw, params_expecting("tabmwp", "test", 1))


class TestCounts:
    def test_a_different_count_is_an_error(self, shared_raw):
        with pytest.raises(
            RawDataError,
            match=r"mawps/test: 2065 problems, expected 2000 \(set data_preparation\.allow_count_mismatch",
        ):
            nodes.prepare_mawps(shared_raw("mawps/test.jsonl"), params_expecting("mawps", "test", 2000))

    def test_allowed_mismatch_warns(self, shared_raw, caplog):
        table = nodes.prepare_mawps(
            shared_raw("mawps/test.jsonl"), params_expecting("mawps", "test", 2000, allow=True)
        )
        assert len(table) == 2065
        assert "2065 problems, expected 2000" in caplog.text

    def test_missing_expected_count(self, shared_raw):
        with pytest.raises(ValueError, match=r"expected_counts has no entry for mawps\.test"):
            nodes.prepare_mawps(shared_raw("mawps/test.jsonl"), params_expecting("svamp", "test", 1))
