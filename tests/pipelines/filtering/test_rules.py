"""The rule table: each parameter switches on its own step, and the README lists the table in its order."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from openmath_kedro.params import FilteringParams
from openmath_kedro.pipelines.filtering import rules
from openmath_kedro.pipelines.filtering.nodes import select_solutions, summarize_benchmark
from openmath_kedro.pipelines.filtering.rules import RULES, Rule, removal_steps
from openmath_kedro.pipelines.filtering.tables import empty_removed

from .graded_tables import problems, rules_off

README = Path(rules.__file__).with_name("README.md")


def switched_on(params: dict) -> set[str]:
    return {
        step for step, on in removal_steps(FilteringParams.model_validate(params), benchmark="math") if on
    }


@pytest.mark.parametrize(
    ("section", "change", "step"),
    [
        ("filters", {"correct_only": True}, "correct_answer"),
        ("filters", {"single_boxed_answer": True}, "one_boxed_answer"),
        ("filters", {"trim_after_answer": True}, None),  # a rewrite: no step of its own
        ("filters", {"well_formed_code": True}, "well_formed_code"),
        ("filters", {"drop_code_errors": True}, "no_code_errors"),
        ("filters", {"min_chars": 10}, "length_limits"),
        ("filters", {"max_chars": 10}, "length_limits"),
        ("decontamination", {"enabled": True}, "decontaminated"),
        ("filters", {"exact_duplicates": True}, "unique_text"),
        ("filters", {"near_duplicates": True}, "unique_up_to_layout"),
        ("selection", {"code_preference": "majority_code"}, "code_preference"),
        ("selection", {"code_preference": "all", "target_size": {"math": 5}}, "downsampling"),
    ],
)
def test_each_parameter_switches_on_its_own_step_alone(section, change, step):
    params = rules_off()
    params[section].update(change)
    assert switched_on(params) == ({step} if step else set())


def test_a_target_size_for_another_benchmark_leaves_downsampling_off():
    params = rules_off()
    params["selection"]["target_size"] = {"gsm8k": 5}
    assert switched_on(params) == set()


def test_the_defaults_switch_on_every_step_but_the_length_limits_and_downsampling():
    steps = [rule.name for rule in RULES if isinstance(rule, Rule)]
    assert switched_on({}) == set(steps) - {"length_limits", "downsampling"}


def test_the_funnel_has_a_row_per_step_of_the_table_in_its_order():
    funnel, _ = summarize_benchmark(
        problems(2),
        *select_solutions(_no_rows(), empty_removed(), problems(2), FilteringParams()),
        FilteringParams(),
    )
    assert funnel["step"].to_list() == ["graded", *(rule.name for rule in RULES if isinstance(rule, Rule))]


def test_the_readme_lists_the_rules_in_the_order_of_the_table():
    section = README.read_text(encoding="utf-8").split("## The rules, in order")[1].split("\n## ")[0]
    listed = re.findall(r"^\| (\S+) \|", section, flags=re.MULTILINE)
    assert listed[1:] == [  # after the header row
        f"`{rule.name}`" if isinstance(rule, Rule) else f"(`{rule.name}`)" for rule in RULES
    ]


def _no_rows() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "benchmark": pl.String,
            "problem_id": pl.String,
            "sample_index": pl.Int64,
            "solution": pl.String,
            "uses_code": pl.Boolean,
        }
    )
