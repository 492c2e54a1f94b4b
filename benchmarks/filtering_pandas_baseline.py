"""The filtering rules written the straightforward pandas way: the baseline of filtering_at_scale.py.

Same rules, order, reasons' steps, seeds and outputs as the ``filtering`` pipeline; pandas string methods where
pandas has them (pyarrow-backed strings), ``groupby``/``transform`` for per-problem rules, plain Python for
decontamination, trimming and tag checks.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from openmath_kedro.answers import find_boxed_answers
from openmath_kedro.pipelines.filtering.solution_rules import BOX_NAME, BOX_NAME_THEN_LETTER, CLOSED_BOX
from openmath_kedro.prompts import load_prompt

KEYS = ["problem_id", "sample_index"]
STEPS = [
    "correct_answer", "one_boxed_answer", "well_formed_code", "no_code_errors", "length_limits",
    "decontaminated", "unique_text", "unique_up_to_layout", "code_preference", "downsampling",
]  # fmt: skip
TAG = re.compile(r"</?llm-code(?:-output)?>")
ROUND = "<llm-code></llm-code><llm-code-output></llm-code-output>"
ANSWER_LINE = re.compile(
    r"\\(?:boxed|fbox)[ \t\n]*(?:\{(?:[^{}\\]|\\.|\{(?:[^{}\\]|\\.|\{(?:[^{}\\]|\\.)*\})*\})*\})?[^\n]*", re.S
)
EVALUATION_SETS = ["gsm8k", "math", "math500", "svamp", "gsm_hard", "asdiv", "algebra222", "mawps", "tabmwp"]


def run_pandas(data: Path, output: Path, params: dict) -> dict:
    import polars as pl
    from filtering_at_scale import summary

    tests = pd.concat(
        [pd.read_parquet(data / f"test_problems_{name}.parquet") for name in EVALUATION_SETS],
        ignore_index=True,
    )
    funnels, kept_tables = [], []
    for benchmark in ("gsm8k", "math"):
        problems = pd.read_parquet(data / f"train_problems_{benchmark}.parquet")
        graded = pd.read_parquet(
            data / f"graded_{benchmark}.parquet",
            columns=[
                "problem_id",
                "sample_index",
                "generation",
                "is_correct",
                "predicted_answer",
                "code_errors",
                "finish_reason",
                "model",
            ],  # fmt: skip
        )
        contaminated = contamination(problems, tests, params["decontamination"])
        kept, removed = filter_and_select(graded, contaminated, params, benchmark=benchmark)
        removed.to_parquet(output / f"removed_{benchmark}.parquet")
        funnels.append(funnel(kept, removed, benchmark))
        coverage(problems, kept, removed).to_parquet(output / f"coverage_{benchmark}.parquet")
        template = load_prompt(params["prompt"])
        prompts = {row.id: template.render(problem=row.problem) for row in problems.itertuples()}
        kept_tables.append(
            pd.DataFrame(
                {
                    "prompt": kept["problem_id"].map(prompts),
                    "completion": kept["solution"],
                    "prompt_name": template.name,
                    "prompt_hash": template.content_hash,
                    "benchmark": benchmark,
                    "problem_id": kept["problem_id"],
                    "sample_index": kept["sample_index"],
                    "source_model": kept["model"],
                }
            )
        )
    sft = pd.concat(kept_tables, ignore_index=True)
    sft.to_json(output / "training_examples.jsonl", orient="records", lines=True, force_ascii=False)
    funnel_table = pd.concat(funnels, ignore_index=True)
    funnel_table.to_parquet(output / "funnel.parquet")
    return summary(pl.from_pandas(funnel_table), pl.from_pandas(sft[KEYS]))


def filter_and_select(
    graded: pd.DataFrame, contaminated: dict[str, str], params: dict, *, benchmark: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rules, selection = params["filters"], params["selection"]
    frame = graded.rename(columns={"generation": "solution"})
    removed = []

    def drop(step: str, mask: pd.Series, reason: pd.Series | str) -> None:
        nonlocal frame
        mask = mask.fillna(False).astype(bool)
        gone = frame.loc[mask, KEYS].assign(
            step=step, reason=reason[mask] if isinstance(reason, pd.Series) else reason
        )
        removed.append(gone)
        frame = frame.loc[~mask]

    if rules["correct_only"]:
        drop("correct_answer", ~frame["is_correct"], "answer is not correct")
    if rules["single_boxed_answer"]:
        text = frame["solution"]
        commands = text.str.count(BOX_NAME) - text.str.count(BOX_NAME_THEN_LETTER)
        counts = pd.Series(np.where(commands == 0, 0, -1), index=text.index)
        counts[(commands == 1) & text.str.contains(CLOSED_BOX)] = 1
        unsettled = counts < 0
        counts[unsettled] = text[unsettled].map(lambda t: len(find_boxed_answers(t)))
        drop("one_boxed_answer", counts != 1, counts.astype(str) + " boxed answers")
    if rules["trim_after_answer"]:
        frame = frame.assign(solution=frame["solution"].map(trim_after_answer))
    if rules["well_formed_code"]:
        sequence = frame["solution"].map(lambda t: "".join(TAG.findall(t)))
        well_formed = sequence.map(lambda s: s == ROUND * (len(s) // len(ROUND)))
        drop("well_formed_code", ~well_formed, "code tags out of order or unclosed")
    if rules["drop_code_errors"]:
        drop(
            "no_code_errors",
            (frame["code_errors"] > 0) | (frame["finish_reason"] == "code_error"),
            "code error",
        )
    if rules["min_chars"] is not None or rules["max_chars"] is not None:
        length = frame["solution"].str.len()
        drop(
            "length_limits",
            (length < (rules["min_chars"] or 0)) | (length > (rules["max_chars"] or 10**12)),
            "length",
        )
    if params["decontamination"]["enabled"]:
        drop(
            "decontaminated",
            frame["problem_id"].isin(list(contaminated)),
            frame["problem_id"].map(contaminated),
        )
    if rules["exact_duplicates"]:
        first = frame.groupby(["problem_id", "solution"])["sample_index"].transform("min")
        drop("unique_text", frame["sample_index"] != first, "same text as sample " + first.astype(str))
    if rules["near_duplicates"]:
        layout_free = frame["solution"].str.replace(r"[ \n\t$]", "", regex=True)
        first = frame.assign(key=layout_free).groupby(["problem_id", "key"])["sample_index"].transform("min")
        drop(
            "unique_up_to_layout", frame["sample_index"] != first, "same up to layout as " + first.astype(str)
        )
    if selection["code_preference"] != "all":
        uses_code = frame["solution"].str.contains("<llm-code>", regex=False)
        code = uses_code.groupby(frame["problem_id"]).transform("sum")
        total = frame.groupby("problem_id")["sample_index"].transform("size")
        prefer = code > 0 if selection["code_preference"] == "any_code" else code * 2 > total
        drop("code_preference", ~uses_code & prefer, "text solution")
    target = selection["target_size"].get(benchmark)
    if target is not None and target < len(frame):
        drop("downsampling", ~downsample(frame, selection, target=target, benchmark=benchmark), "not chosen")
    kept = frame.sort_values(KEYS)
    return kept, pd.concat(removed, ignore_index=True)


def trim_after_answer(text: str) -> str:
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return text
    return text[: start + ANSWER_LINE.match(text, start).end()]


def downsample(frame: pd.DataFrame, selection: dict, *, target: int, benchmark: str) -> pd.Series:
    generator = np.random.default_rng(
        np.random.SeedSequence([selection["seed"], zlib.crc32(benchmark.encode())])
    )
    order = frame[KEYS].reset_index(drop=True).sort_values(KEYS).index.to_numpy()
    draw = np.empty(len(frame))
    draw[order] = generator.random(len(frame))
    if selection["downsampling"] == "naive":
        priority = pd.Series(draw)
    else:
        problems = np.sort(frame["problem_id"].unique())
        problem_draw = pd.Series(generator.random(len(problems)), index=problems)
        ranks = pd.Series(draw).groupby(frame["problem_id"].to_numpy()).rank(method="first")
        priority = ranks + frame["problem_id"].map(problem_draw).to_numpy()
    return pd.Series((priority.rank(method="first") <= target).to_numpy(), index=frame.index)


def contamination(problems: pd.DataFrame, tests: pd.DataFrame, settings: dict) -> dict[str, str]:
    """Training problem id -> the best overlapping test id (exact match or n-gram overlap)."""
    if not settings["enabled"]:
        return {}
    size, threshold = settings["ngram_size"], settings["threshold"]
    test_grams, exact = defaultdict(set), defaultdict(list)
    test_counts = {}
    for row in tests.itertuples():
        text = normalize(row.problem)
        if not text:
            continue
        exact[text].append(row.id)
        grams = ngrams(text, size)
        test_counts[row.id] = len(grams)
        for gram in grams:
            test_grams[gram].add(row.id)
    found = {}
    for row in problems.itertuples():
        text = normalize(row.problem)
        if not text:
            continue
        if exact.get(text):
            found[row.id] = sorted(exact[text])[0]
            continue
        grams = ngrams(text, size)
        shared = defaultdict(int)
        for gram in grams:
            for test_id in test_grams.get(gram, ()):
                shared[test_id] += 1
        best = [(count / min(len(grams), test_counts[t]), t) for t, count in shared.items()]
        best = [(-overlap, t) for overlap, t in best if overlap >= threshold]
        if best:
            found[row.id] = min(best)[1]
    return found


def normalize(text: str) -> str:
    text = re.sub(r"\\[()\[\]]|\$", " ", text.lower())
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def ngrams(text: str, size: int) -> set[str]:
    words = text.split(" ")
    if len(words) < size:
        return {text}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def funnel(kept: pd.DataFrame, removed: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    counts = removed["step"].value_counts()
    rows = len(kept) + len(removed)
    records = [{"benchmark": benchmark, "step": "graded", "rows": rows}]
    for step in STEPS:
        rows -= int(counts.get(step, 0))
        records.append({"benchmark": benchmark, "step": step, "rows": rows})
    return pd.DataFrame(records)


def coverage(problems: pd.DataFrame, kept: pd.DataFrame, removed: pd.DataFrame) -> pd.DataFrame:
    table = problems[["id"]].copy()
    table["subject"] = problems["metadata"].map(lambda m: m.get("subject"))
    table["level"] = problems["metadata"].map(lambda m: m.get("level"))
    solutions = kept.groupby("problem_id").size()
    table["solutions"] = table["id"].map(solutions).fillna(0)
    rows = [("all", "all", table)]
    for group in ("subject", "level"):
        rows += [(group, str(value), part) for value, part in table.groupby(group)]
    return pd.DataFrame(
        [
            {
                "group": group,
                "value": value,
                "problems": len(part),
                "covered": int((part["solutions"] > 0).sum()),
            }
            for group, value, part in rows
        ]
    )
