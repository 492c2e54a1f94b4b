"""Training problems that overlap an evaluation problem: normalized exact match or word n-gram overlap."""

from __future__ import annotations

import polars as pl

CONTAMINATION_SCHEMA = {
    "problem_id": pl.String,
    "problem": pl.String,
    "test_benchmark": pl.String,
    "test_id": pl.String,
    "test_problem": pl.String,
    "match": pl.String,  # "exact" (same normalized text) or "ngram"
    "overlap": pl.Float64,  # shared n-grams / n-grams of the shorter problem (1.0 for exact matches)
}


def normalized_for_matching(text: pl.Expr) -> pl.Expr:
    """Lower case, math delimiters gone, every run of other characters one space: ``What is $2+3$?`` ->
    ``what is 2 3``. Numbers stay, so problems that differ in a number differ here too."""
    return (
        text.str.to_lowercase()
        .str.replace_all(r"\\[()\[\]]|\$", " ")
        .str.replace_all(r"[^a-z0-9]+", " ")
        .str.strip_chars()
    )


def word_ngrams(problems: pl.DataFrame, *, size: int) -> pl.DataFrame:
    """``id``, ``gram`` (a hash of ``size`` consecutive words) and ``grams`` (distinct grams of that problem).

    A problem shorter than ``size`` words is one gram: its whole text, so it can only match exactly.
    """
    words = (
        problems.select(
            "id",
            "normalized",
            pl.col("normalized").str.split(" ").alias("word"),
            pl.col("normalized").str.split(" ").list.len().alias("length"),
        )
        .with_columns((pl.col("length").cum_sum() - pl.col("length")).alias("start"))
        .explode("word")
        .with_columns((pl.int_range(pl.len()) - pl.col("start")).alias("position"))
    )
    # A problem's words are consecutive rows, so a plain shift reaches its next words (no window needed);
    # windows that would run into the next problem are dropped by the position test.
    windows = pl.concat_str([pl.col("word").shift(-offset) for offset in range(size)], separator=" ")
    grams = words.select(
        "id",
        pl.when(pl.col("length") < size)
        .then(pl.col("normalized"))
        .when(pl.col("position") + size <= pl.col("length"))
        .then(windows)
        .alias("text"),
    )
    return (
        grams.drop_nulls("text")
        .select("id", pl.col("text").hash(seed=0).alias("gram"))
        .unique()
        .with_columns(pl.len().over("id").alias("grams"))
    )


def find_overlaps(
    training: pl.DataFrame, evaluation: pl.DataFrame, *, ngram_size: int, threshold: float
) -> pl.DataFrame:
    """Every (training problem, evaluation problem) pair that matches exactly or shares at least ``threshold``
    of the shorter one's n-grams. Both tables have ``id``, ``problem`` and ``benchmark``."""
    train = _with_normalized(training)
    test = _with_normalized(evaluation)
    exact = train.join(test, on="normalized", suffix="_test").select(
        pl.col("id").alias("problem_id"),
        pl.col("id_test").alias("test_id"),
        pl.lit("exact").alias("match"),
        pl.lit(1.0).alias("overlap"),
    )
    train_grams = word_ngrams(train, size=ngram_size)
    test_grams = word_ngrams(test, size=ngram_size)
    shared = (
        train_grams.join(test_grams, on="gram", suffix="_test")
        .group_by("id", "id_test")
        .agg(pl.len().alias("shared"), pl.col("grams").first(), pl.col("grams_test").first())
        .with_columns((pl.col("shared") / pl.min_horizontal("grams", "grams_test")).alias("overlap"))
        .filter(pl.col("overlap") >= threshold)
        .select(
            pl.col("id").alias("problem_id"),
            pl.col("id_test").alias("test_id"),
            pl.lit("ngram").alias("match"),
            "overlap",
        )
    )
    pairs = pl.concat([exact, shared]).unique(["problem_id", "test_id"], keep="first", maintain_order=True)
    return (
        pairs.join(train.select(pl.col("id").alias("problem_id"), "problem"), on="problem_id")
        .join(
            test.select(
                pl.col("id").alias("test_id"),
                pl.col("benchmark").alias("test_benchmark"),
                pl.col("problem").alias("test_problem"),
            ),
            on="test_id",
        )
        .select(list(CONTAMINATION_SCHEMA))
        .cast(CONTAMINATION_SCHEMA)
        .sort("problem_id", "overlap", "test_id", descending=[False, True, False])
    )


def _with_normalized(problems: pl.DataFrame) -> pl.DataFrame:
    return problems.select(
        "id", "benchmark", "problem", normalized_for_matching(pl.col("problem")).alias("normalized")
    ).filter(pl.col("normalized") != "")
