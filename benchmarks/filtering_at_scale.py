"""Filtering at OpenMathInstruct-1's scale: the Kedro filtering pipeline (polars) against a pandas baseline.

A synthetic graded table with the shape of OpenMathInstruct-1 (1.8M solutions over the 7,473 GSM8K and 7,500
MATH training problems, ~120 per problem, GSM8K solutions ~500 characters and MATH ~900, code in ~70% of them,
every column of a graded generation record) is written once to parquet, with problem tables and the nine
evaluation sets (sizes as the real ones, some training problems planted in them). Then, each in its own child
process so that its peak RSS is its own:

- polars: the real ``filtering`` pipeline, run by Kedro's SequentialRunner on a catalog built from
  conf/base/catalog_filtering.yml (outputs written to parquet / JSON Lines as in a real run);
- pandas: benchmarks/filtering_pandas_baseline.py, a straightforward pandas implementation of the same rules
  (pandas string methods, groupby, Python where pandas has no vectorized form), writing the same outputs.

Both report wall seconds (load, rules, writes: everything) and peak RSS; the parent checks that both kept the
same solutions and removed the same rows at each step, and prints one JSON object.

    .venv/bin/python benchmarks/filtering_at_scale.py [--solutions 1800000] [--data-dir /tmp/filtering-bench]

Figures on this project's 2-core machine (1,801,141 solutions; targets 256K per benchmark, 483,542 kept; both
implementations kept the same rows and removed the same rows at every step):

| run | polars pipeline | pandas baseline |
|---|---|---|
| machine otherwise idle (load 1.0) | 26.2 s wall, 36.2 s CPU, 1.99 GB peak RSS | 77.0 s wall, 79.2 s CPU, 6.77 GB |
| another job on both cores (load 3.2) | 41.9 s wall, 34.5 s CPU, 1.98 GB | 78.5 s wall, 79.3 s CPU, 6.62 GB |
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRAINING_PROBLEMS = {"gsm8k": 7473, "math": 7500}
EVALUATION_PROBLEMS = {
    "gsm8k": 1319, "math": 5000, "math500": 500, "svamp": 1000, "gsm_hard": 1319, "asdiv": 2215,
    "algebra222": 222, "mawps": 2065, "tabmwp": 1000,
}  # fmt: skip
MATH_SUBJECTS = [
    "Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory", "Prealgebra",
    "Precalculus",
]  # fmt: skip
# Solutions kept per benchmark after selection (fair downsampling), about OpenMathInstruct-1's 512K in all.
TARGET_SIZE = {"gsm8k": 256_000, "math": 256_000}
PLANTED = 40  # training problems copied (half verbatim, half with one word changed) into evaluation sets


# --- synthetic data -------------------------------------------------------------------------------------


def synthesize(folder: Path, *, solutions: int, seed: int = 0) -> dict:
    """Write the synthetic tables into ``folder`` (skipped when a previous run left the same ones)."""
    stamp = folder / "stamp.json"
    description = {"solutions": solutions, "seed": seed, "version": 3}
    if stamp.is_file() and json.loads(stamp.read_text()) == description:
        return description
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocabulary = _words(rng, 6000)
    samples_per_problem = solutions / sum(TRAINING_PROBLEMS.values())
    train_texts = {}
    for benchmark, count in TRAINING_PROBLEMS.items():
        texts = [
            _sentence(rng, vocabulary, *((35, 70) if benchmark == "gsm8k" else (15, 50)))
            for _ in range(count)
        ]
        train_texts[benchmark] = texts
        pl.DataFrame(
            {
                "id": [f"{benchmark}/train/{i}" for i in range(count)],
                "benchmark": benchmark,
                "split": "train",
                "problem": texts,
                "expected_answer": [str(i) for i in range(count)],
                "metadata": [
                    {"level": int(rng.integers(1, 6)), "subject": MATH_SUBJECTS[int(rng.integers(0, 7))]}
                    if benchmark == "math"
                    else {"level": None, "subject": None}
                    for _ in range(count)
                ],
            }
        ).write_parquet(folder / f"train_problems_{benchmark}.parquet")
    planted = _plant(rng, train_texts)
    for name, count in EVALUATION_PROBLEMS.items():
        texts = [_sentence(rng, vocabulary, 15, 60) for _ in range(count)]
        for index, text in planted.get(name, []):
            texts[index] = text
        pl.DataFrame(
            {"id": [f"{name}/test/{i}" for i in range(count)], "benchmark": name, "problem": texts}
        ).write_parquet(folder / f"test_problems_{name}.parquet")
    sentences = pl.Series([_sentence(rng, vocabulary, 8, 20) + "." for _ in range(4000)] + [""])
    for benchmark, count in TRAINING_PROBLEMS.items():
        table = _graded_table(rng, benchmark=benchmark, problems=count, samples=samples_per_problem,
                              sentences=sentences)  # fmt: skip
        table.write_parquet(folder / f"graded_{benchmark}.parquet")
        del table
    stamp.write_text(json.dumps(description))
    return description


def _words(rng: np.random.Generator, count: int) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(2, 10)))) for _ in range(count)]


def _sentence(rng: np.random.Generator, vocabulary: list[str], low: int, high: int) -> str:
    words = [vocabulary[i] for i in rng.integers(0, len(vocabulary), size=int(rng.integers(low, high)))]
    for position in rng.integers(0, len(words), size=3):
        words[position] = str(int(rng.integers(2, 500)))
    return " ".join(words).capitalize()


def _plant(rng: np.random.Generator, train_texts: dict[str, list[str]]) -> dict[str, list[tuple[int, str]]]:
    planted: dict[str, list[tuple[int, str]]] = {}
    for number in range(PLANTED):
        benchmark = "gsm8k" if number % 2 else "math"
        text = train_texts[benchmark][int(rng.integers(0, TRAINING_PROBLEMS[benchmark]))]
        if number % 4 >= 2:  # one word changed: an n-gram match, not an exact one
            words = text.split(" ")
            words[len(words) // 2] = "changed"
            text = " ".join(words)
        target = list(EVALUATION_PROBLEMS)[number % len(EVALUATION_PROBLEMS)]
        planted.setdefault(target, []).append((int(rng.integers(0, EVALUATION_PROBLEMS[target])), text))
    return planted


def _code_blocks(rng: np.random.Generator, count: int, *, kind: str) -> list[str]:
    blocks = []
    for _ in range(count):
        a, b, c = (int(x) for x in rng.integers(2, 999, size=3))
        lines = [f"a = {a}", f"b = {b}", f"c = a * b + {c}"]
        lines += [f"values_{i} = [c + i for i in range({i + 3})]" for i in range(int(rng.integers(0, 6)))]
        lines.append("print(c)")
        output = str(a * b + c)
        if kind == "error":
            output = "Traceback (most recent call last):\n  File \"<stdin>\", line 4\nNameError: name 'd' is not defined"
        block = "<llm-code>\n" + "\n".join(lines) + "\n</llm-code>\n<llm-code-output>\n" + output + "\n"
        blocks.append(block if kind == "broken" else block + "</llm-code-output>\n")
    return blocks + [""]


def _graded_table(
    rng: np.random.Generator, *, benchmark: str, problems: int, samples: float, sentences: pl.Series
) -> pl.DataFrame:
    per_problem = rng.poisson(samples, size=problems).clip(1)
    rows = int(per_problem.sum())
    problem = np.repeat(np.arange(problems), per_problem)
    first_row = np.repeat(np.cumsum(per_problem) - per_problem, per_problem)
    sample_index = np.arange(rows) - first_row
    easy = rng.beta(4, 1.5, size=problems) if benchmark == "gsm8k" else rng.beta(1.2, 1.5, size=problems)
    easy[rng.random(problems) < 0.03] = 0.0  # never solved
    code_rate = rng.beta(3, 1.3, size=problems)
    code_rate[rng.random(problems) < 0.1] = 0.0  # never written with code
    correct = rng.random(rows) < easy[problem]
    answer = problem.astype(np.int64) * 7 + 3
    stated = np.where(correct, answer, answer + rng.integers(1, 9, size=rows))
    box_kind = rng.choice(3, size=rows, p=[0.95, 0.03, 0.02])  # one box, two boxes, none
    code_kind = np.where(
        rng.random(rows) < code_rate[problem], rng.choice(3, size=rows, p=[0.97, 0.02, 0.01]), 3
    )
    low, high = (3, 7) if benchmark == "gsm8k" else (5, 12)
    sentence_count = rng.integers(low, high, size=rows)
    empty = sentences.len() - 1

    def sentence_slot(slot: int) -> pl.Series:
        chosen = rng.integers(0, empty, size=rows)
        return sentences.gather(np.where(slot < sentence_count, chosen, empty)).rename(f"s{slot}")

    pools = {kind: pl.Series(_code_blocks(rng, 600, kind=kind)) for kind in ("ok", "error", "broken")}
    code = pl.Series([""] * rows)
    for index, kind in enumerate(("ok", "error", "broken")):
        picked = pools[kind].gather(np.where(code_kind == index, rng.integers(0, 600, size=rows), 600))
        code = code + picked
    half = max(1, high // 2)
    stated_text = pl.Series(stated.astype(str))
    box = (
        pl.when(pl.Series(box_kind) == 2)
        .then(pl.concat_str(pl.lit("So the answer is "), pl.lit(stated_text), pl.lit(".")))
        .otherwise(pl.concat_str(pl.lit("So the answer is $\\boxed{"), pl.lit(stated_text), pl.lit("}$.")))
    )
    double = (
        pl.when(pl.Series(box_kind) == 1).then(pl.lit("At first we get $\\boxed{0}$. ")).otherwise(pl.lit(""))
    )
    tail = (
        pl.when(pl.Series(rng.random(rows) < 0.15))
        .then(pl.lit("\n\nQuestion: Next one?"))
        .otherwise(pl.lit(""))
    )
    text = pl.select(
        pl.concat_str(
            [pl.lit(sentence_slot(slot)) + " " for slot in range(half)]
            + [pl.lit(code)]
            + [pl.lit(sentence_slot(slot)) + " " for slot in range(half, high)]
            + [double, box, tail]
        ).alias("generation")
    ).to_series()
    predicted = pl.Series(np.where(box_kind == 2, None, stated.astype(str)), dtype=pl.String)
    is_correct = correct & (box_kind != 2)
    table = pl.DataFrame(
        {
            "problem_id": pl.Series([f"{benchmark}/train/{i}" for i in range(problems)]).gather(problem),
            "sample_index": sample_index,
            "seed": np.arange(rows),
            "model": "teacher",
            "engine": "vllm",
            "prompt_name": "code_fewshot",
            "prompt_hash": "0123456789abcdef",
            "generation": text,
            "num_code_calls": (code_kind < 3).astype(np.int64),
            "code_errors": (code_kind == 1).astype(np.int64),
            "finish_reason": "stop",
            "error": pl.Series([None] * rows, dtype=pl.String),
            "tokens_in": np.full(rows, 1500),
            "tokens_out": text.str.len_chars() // 4,
            "seconds": rng.random(rows) * 10,
            "predicted_answer": predicted,
            "is_correct": is_correct,
            "grader_version": "1",
        }
    ).with_columns(
        pl.struct(temperature=pl.lit(1.0), top_p=pl.lit(0.95), max_tokens=pl.lit(512)).alias("sampling"),
        pl.struct(
            status=pl.when(pl.col("is_correct"))
            .then(pl.lit("equivalent"))
            .otherwise(pl.lit("not_equivalent")),
            stage=pl.lit("exact"),
        ).alias("verdict"),
    )
    # 8% copy sample 0 of their problem verbatim, 4% copy it with one space doubled (layout-only change)
    copy = rng.random(rows)
    source = np.where(copy < 0.12, first_row, np.arange(rows))
    copied = table.drop("problem_id", "sample_index", "seed").gather(source)
    layout = pl.Series((copy >= 0.08) & (copy < 0.12) & (source != np.arange(rows)))
    copied = copied.with_columns(
        pl.when(pl.lit(layout))
        .then(pl.col("generation").str.replace(" ", "  ", literal=True))
        .otherwise(pl.col("generation"))
    )
    return pl.concat([table.select("problem_id", "sample_index", "seed"), copied], how="horizontal")


# --- the two implementations, each in a child process ---------------------------------------------------


def filtering_params() -> dict:
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_filtering.yml").read_text())["filtering"]
    params["selection"]["target_size"] = dict(TARGET_SIZE)
    return params


def run_polars(data: Path, output: Path) -> dict:
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from openmath_kedro.benchmark_sets import EVALUATION_SETS, TRAINING_SETS
    from openmath_kedro.datasets.polars_table import PolarsTableDataset
    from openmath_kedro.params import FilteringParams
    from openmath_kedro.pipelines.filtering.pipeline import create_pipeline

    config = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_filtering.yml").read_text())
    config = {name: entry for name, entry in config.items() if not name.startswith("_")}
    for entry in config.values():
        entry["filepath"] = str(output / entry["filepath"])
    catalog = DataCatalog.from_config(config)
    for benchmark in TRAINING_SETS:
        catalog[f"grading.{benchmark}.graded_generations"] = PolarsTableDataset(
            filepath=str(data / f"graded_{benchmark}.parquet")
        )
        catalog[f"data_preparation.{benchmark}.train_problems"] = PolarsTableDataset(
            filepath=str(data / f"train_problems_{benchmark}.parquet")
        )
    for name in EVALUATION_SETS:
        catalog[f"data_preparation.{name}.test_problems"] = PolarsTableDataset(
            filepath=str(data / f"test_problems_{name}.parquet")
        )
    catalog["params:filtering"] = MemoryDataset(FilteringParams.model_validate(filtering_params()))
    SequentialRunner().run(create_pipeline(), catalog)
    funnel = pl.read_parquet(output / "data/08_reporting/filtering/funnel.parquet")
    kept = pl.read_ndjson(output / "data/07_model_output/filtering/sft_training_examples.jsonl").select(
        "problem_id", "sample_index"
    )
    return summary(funnel.select("benchmark", "step", "rows"), kept)


def summary(funnel: pl.DataFrame, kept: pl.DataFrame) -> dict:
    """What both implementations must agree on: rows after each step, and which solutions were kept."""
    keys = kept.sort("problem_id", "sample_index")
    digest = hashlib.sha256("\n".join(f"{p}/{s}" for p, s in keys.iter_rows()).encode()).hexdigest()[:16]
    return {
        "funnel": {f"{b}.{step}": rows for b, step, rows in funnel.iter_rows()},
        "kept": keys.height,
        "kept_digest": digest,
    }


def child(engine: str, data: Path, output: Path) -> None:
    # Kedro's rich console log of every load and save is not filtering work; keep warnings only.
    logging.getLogger("kedro").setLevel(logging.WARNING)
    started = time.perf_counter()
    if engine == "polars":
        result = run_polars(data, output)
    else:
        from filtering_pandas_baseline import run_pandas

        result = run_pandas(data, output, filtering_params())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)  # less sensitive to other load on the machine
    result["peak_rss_gb"] = round(usage.ru_maxrss / 2**20, 2)
    (output / "result.json").write_text(json.dumps(result))


def measure(engine: str, data: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"filtering-{engine}-") as folder:
        completed = subprocess.run(
            [sys.executable, __file__, "--child", engine, "--data-dir", str(data), "--output-dir", folder],
            env=os.environ | {"POLARS_MAX_THREADS": "2", "KEDRO_DISABLE_TELEMETRY": "1"},
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{engine} run failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
            )
        return json.loads((Path(folder) / "result.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--solutions", type=int, default=1_800_000)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "filtering-bench")
    parser.add_argument("--child", choices=["polars", "pandas"])
    parser.add_argument("--output-dir", type=Path)
    parser.add_argument("--skip-pandas", action="store_true")
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.data_dir, arguments.output_dir)
        return
    started = time.perf_counter()
    synthesize(arguments.data_dir, solutions=arguments.solutions)
    graded = {b: pl.scan_parquet(arguments.data_dir / f"graded_{b}.parquet") for b in TRAINING_PROBLEMS}
    shape = {
        b: frame.select(
            pl.len().alias("solutions"),
            pl.col("problem_id").n_unique().alias("problems"),
            pl.col("generation").str.len_chars().mean().round(0).alias("mean_chars"),
            pl.col("is_correct").mean().round(3).alias("correct_share"),
        )
        .collect()
        .row(0, named=True)
        for b, frame in graded.items()
    }
    generated_s = round(time.perf_counter() - started, 1)
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine skews wall times
    results = {"polars_pipeline": measure("polars", arguments.data_dir)}
    if not arguments.skip_pandas:
        results["pandas_baseline"] = measure("pandas", arguments.data_dir)
    polars_result = results["polars_pipeline"]
    report = {
        "input": {"benchmarks": shape, "generated_or_cached_s": generated_s, "cores": os.cpu_count()},
        "load_average_before": load_before,
        "target_size": TARGET_SIZE,
        "polars_pipeline": {k: polars_result[k] for k in ("wall_s", "cpu_s", "peak_rss_gb", "kept")},
        "goal": {"wall_s": 30, "peak_rss_gb": 4},
        "funnel": polars_result["funnel"],
    }
    if "pandas_baseline" in results:
        baseline = results["pandas_baseline"]
        report["pandas_baseline"] = {k: baseline[k] for k in ("wall_s", "cpu_s", "peak_rss_gb", "kept")}
        report["same_result"] = (
            baseline["funnel"] == polars_result["funnel"]
            and baseline["kept_digest"] == polars_result["kept_digest"]
        )
        report["speedup"] = round(baseline["wall_s"] / polars_result["wall_s"], 1)
        if not report["same_result"]:
            report["pandas_funnel"] = baseline["funnel"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
