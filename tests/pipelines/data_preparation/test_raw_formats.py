"""The raw-format readers: real files parse; malformed input names file, line/row and field."""

from __future__ import annotations

import pytest

from openmath_kedro.pipelines.data_preparation.raw_formats import (
    RawDataError,
    read_asdiv_xml,
    read_csv,
    read_json_document,
    read_json_lines,
)
from tests.conftest import make_raw


class TestJsonLines:
    def test_real_file_has_one_record_per_line(self, shared_raw):
        records = read_json_lines(shared_raw("gsm8k/test.jsonl"))
        assert len(records) == 1319
        assert records[0].location == "line 1"
        assert records[0].get("question").startswith("Janet’s ducks lay 16 eggs per day.")

    def test_malformed_line_is_named(self):
        raw = make_raw(
            "gsm8k/test.jsonl", '{"question": "a", "answer": "#### 1"}\n{"question": "b", "answer": \n'
        )
        with pytest.raises(RawDataError, match=r"^gsm8k/test\.jsonl, line 2: malformed JSON"):
            read_json_lines(raw)

    def test_line_that_is_not_an_object(self):
        with pytest.raises(RawDataError, match=r"x\.jsonl, line 1: expected a JSON object, got list"):
            read_json_lines(make_raw("x.jsonl", "[1, 2]\n"))

    def test_blank_lines_are_ignored_and_numbering_follows_the_file(self):
        records = read_json_lines(make_raw("x.jsonl", '{"a": "1"}\n\n{"a": "2"}'))
        assert [r.location for r in records] == ["line 1", "line 3"]

    def test_invalid_utf8_is_named(self):
        raw = make_raw("x.jsonl", "")
        raw = type(raw)(name="x.jsonl", path=raw.path, sha256=raw.sha256, content=b'{"a": "\xff"}')
        with pytest.raises(Exception, match=r"x\.jsonl: not valid UTF-8 at byte 7"):
            read_json_lines(raw)


class TestRecordFields:
    def test_missing_field(self):
        (record,) = read_json_lines(make_raw("m.jsonl", '{"input": "q"}\n'))
        with pytest.raises(RawDataError, match=r"^m\.jsonl, line 1, field 'target': missing$"):
            record.get("target", types=float)

    def test_wrong_type(self):
        (record,) = read_json_lines(make_raw("m.jsonl", '{"target": "forty"}\n'))
        with pytest.raises(RawDataError, match=r"field 'target': expected int or float, got str 'forty'"):
            record.get("target", types=(int, float))

    def test_boolean_is_not_a_number(self):
        (record,) = read_json_lines(make_raw("m.jsonl", '{"target": true}\n'))
        with pytest.raises(RawDataError, match="expected int or float, got bool"):
            record.get("target", types=(int, float))

    def test_empty_text(self):
        (record,) = read_json_lines(make_raw("m.jsonl", '{"input": "  "}\n'))
        with pytest.raises(RawDataError, match=r"field 'input': empty"):
            record.get("input")


class TestJsonDocument:
    def test_list_entries_are_numbered_from_one(self, shared_raw):
        records = read_json_document(shared_raw("svamp/SVAMP.json"))
        assert len(records) == 1000
        assert records[0].location == "entry 1"
        assert records[0].get("ID") == "chal-1"

    def test_object_entries_keep_their_key(self, shared_raw):
        records = read_json_document(shared_raw("tabmwp/problems_test1k.json"))
        assert len(records) == 1000
        assert records[0].location == "key '16'"
        assert records[0].get("_key") == "16"

    def test_truncated_document(self):
        with pytest.raises(RawDataError, match=r"^SVAMP\.json, line 2: malformed JSON"):
            read_json_document(make_raw("SVAMP.json", '[\n  {"ID": "chal-1", "Body": "x"'))

    def test_entry_that_is_not_an_object(self):
        with pytest.raises(RawDataError, match=r"SVAMP\.json, entry 2: expected a JSON object"):
            read_json_document(make_raw("SVAMP.json", '[{"ID": "a"}, 3]'))


class TestCsv:
    def test_real_file(self, shared_raw):
        records = read_csv(
            shared_raw("algebra222/algebra222.csv"), required_columns=("question", "final_answer")
        )
        assert len(records) == 222
        assert records[0].get("final_answer") == "-21"
        assert records[0].location == "row 1 (line 2)"

    def test_missing_column_is_named(self):
        raw = make_raw("algebra222.csv", "question,section\nWhat is 1+1?,Basics\n")
        with pytest.raises(
            RawDataError,
            match=r"^algebra222\.csv, header, field 'final_answer': column missing \(header has question, section\)",
        ):
            read_csv(raw, required_columns=("question", "final_answer"))

    def test_short_row_is_named(self):
        raw = make_raw("a.csv", "question,final_answer\nWhat is 1+1?,2\nWhat is 2+2?\n")
        with pytest.raises(RawDataError, match=r"a\.csv, row 2 \(line 3\): wrong number of columns"):
            read_csv(raw, required_columns=("question", "final_answer"))

    def test_extra_column_is_named(self):
        raw = make_raw("a.csv", "question,final_answer\nWhat is 1+1?,2,oops\n")
        with pytest.raises(RawDataError, match=r"a\.csv, row 1 \(line 2\): wrong number of columns"):
            read_csv(raw, required_columns=("question", "final_answer"))


class TestAsdivXml:
    def test_real_corpus(self, shared_raw):
        records = read_asdiv_xml(shared_raw("asdiv/ASDiv.xml"))
        assert len(records) == 2305
        first = records[0]
        assert first.location == "Problem ID=nluds-0001"
        assert first.get("Answer") == "9 (apples)"
        assert first.get("@Grade") == "1"

    def test_problem_without_answer_is_named(self):
        raw = make_raw(
            "asdiv/ASDiv.xml",
            '<Corpus><ProblemSet><Problem ID="nluds-0007" Grade="2"><Body>Ann has 3 pens.</Body>'
            "<Question>How many pens?</Question></Problem></ProblemSet></Corpus>",
        )
        (record,) = read_asdiv_xml(raw)
        with pytest.raises(
            RawDataError, match=r"^asdiv/ASDiv\.xml, Problem ID=nluds-0007, field 'Answer': missing$"
        ):
            record.get("Answer")

    def test_malformed_xml_names_the_line(self):
        raw = make_raw("asdiv/ASDiv.xml", "<Corpus>\n<Problem ID='1'>\n<Body>x</Problem>\n</Corpus>")
        with pytest.raises(RawDataError, match=r"^asdiv/ASDiv\.xml, line 3: malformed XML"):
            read_asdiv_xml(raw)
