"""Custom statistics: a user-written polars expression, evaluated per problem in a separate, time-limited process.

A statistic is one Python expression over the solution table's columns that reduces the solutions of a problem to
one value, for example::

    (col("code_errors") > 0).mean()                      # share of solutions with a failed code block
    col("generation").str.contains("sympy").sum()         # solutions that use sympy
    col("tokens_out").median()
    when(col("outcome") == "correct").then(col("tokens_out")).mean()

Names available: ``pl`` (a curated part of polars), ``col``, ``lit``, ``when``; the columns are those of the
canonical solution frame (``tables.SOLUTION_SCHEMA``). The result is one column of the problem table (the value
per problem) and one overall value (the expression over every filtered solution).

Why this is safe to offer in a local app that also serves the browser:

1. **What may be written** (checked here, in the app, before anything runs): the text is parsed with ``ast`` and
   every node must be of an allowed kind: calls, attribute access, names, constants, arithmetic, comparisons,
   lists. Names are only ``pl``, ``col``, ``lit``, ``when``; ``pl.<name>`` only from a list of expression
   constructors (no ``read_*``, ``scan_*``, ``sql``, ``Config``...); no attribute starting with ``_``; no method
   that calls back into Python (``map_elements``, ``map_batches``, ``pipe``...); no lambdas, comprehensions,
   imports, assignments or f-strings; string constants under 1,000 characters. So an expression can only build a
   polars expression: it cannot reach the file system, the network, Python objects or the app's state.
2. **How long and how big it may run**: the expression is evaluated in a child process (``python -m
   openmath_kedro.inspector.stats_worker``), which receives only the columns it names (Arrow IPC on stdin), is
   killed when it runs past the time limit (default 10 s), and runs under an address-space limit. A statistic
   that raises, never ends or exhausts memory gives a message in the page; the app's process, its cached tables
   and the other users' requests are untouched.

A restricted evaluator alone would not be enough (a legal expression such as ``lit(1).repeat_by(10**9)`` can
still run for minutes or take all memory, and polars cannot be interrupted from Python); a process alone would
let any Python run with the app user's rights. Both together give "expressions over the table, nothing else".
"""

from __future__ import annotations

import ast
import io
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

DEFAULT_TIMEOUT_S = 10.0
MEMORY_LIMIT_BYTES = 8 * 1024**3
MAX_EXPRESSION_CHARS = 2000
MAX_STRING_CONSTANT = 1000

# polars functions an expression may call as pl.<name> (expression constructors and aggregations only)
PL_FUNCTIONS = frozenset(
    {
        "col", "lit", "when", "len", "count", "sum", "mean", "median", "min", "max", "first", "last",
        "n_unique", "all", "any", "concat_str", "coalesce", "quantile", "std", "var", "sum_horizontal",
        "max_horizontal", "min_horizontal", "mean_horizontal", "any_horizontal", "all_horizontal", "element",
        "String", "Int64", "Float64", "Boolean", "UInt32", "Int32",
    }
)  # fmt: skip
NAMES = ("pl", "col", "lit", "when")
# methods that run Python callables or reach outside the expression
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "map_elements", "map_batches", "map_groups", "map", "apply", "pipe", "rolling_map", "cumulative_eval",
        "register_plugin", "serialize", "deserialize", "write_json", "from_json", "meta", "plugins", "inspect",
    }
)  # fmt: skip
_ALLOWED_NODES = (
    ast.Expression, ast.Call, ast.Attribute, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp,
    ast.Compare, ast.List, ast.Tuple, ast.keyword, ast.operator, ast.unaryop, ast.cmpop, ast.BoolOp, ast.boolop,
)  # fmt: skip


class StatisticError(ValueError):
    """An expression that may not run, or that failed, ran too long or returned no value per problem."""


@dataclass(frozen=True)
class StatisticResult:
    name: str
    expression: str
    per_problem: pl.DataFrame  # problem_id, value
    overall: Any
    seconds: float


def check_expression(expression: str, columns: list[str]) -> list[str]:
    """Raise StatisticError unless the expression is allowed; return the columns it reads."""
    text = expression.strip()
    if not text:
        raise StatisticError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise StatisticError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise StatisticError(f"not a Python expression: {error.msg} (column {error.offset})") from error
    used: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise StatisticError(
                f"{type(node).__name__} is not allowed in a statistic (only polars expressions)"
            )
        if isinstance(node, ast.Name) and node.id not in NAMES:
            raise StatisticError(
                f"unknown name {node.id!r}: use {', '.join(NAMES)} and column names in col('...')"
            )
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES:
                raise StatisticError(f".{node.attr} is not allowed in a statistic")
            if isinstance(node.value, ast.Name) and node.value.id == "pl" and node.attr not in PL_FUNCTIONS:
                raise StatisticError(f"pl.{node.attr} is not available in a statistic")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and len(node.value) > MAX_STRING_CONSTANT:
                raise StatisticError(f"string constants are limited to {MAX_STRING_CONSTANT} characters")
            if isinstance(node.value, bytes):
                raise StatisticError("bytes constants are not allowed")
        if isinstance(node, ast.Call) and _is_column_call(node.func):
            for argument in node.args:
                names = _constant_strings(argument)
                if names is None:
                    raise StatisticError("col() takes column names as string constants")
                for name in names:
                    if name not in columns:
                        raise StatisticError(f"no column {name!r}; columns: {', '.join(columns)}")
                    used.append(name)
    return list(dict.fromkeys(used))


def _is_column_call(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "col") or (
        isinstance(func, ast.Attribute)
        and func.attr == "col"
        and isinstance(func.value, ast.Name)
        and func.value.id == "pl"
    )


def _constant_strings(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_constant_strings(item) for item in node.elts]
        if all(v is not None for v in values):
            return [name for v in values for name in v]  # type: ignore[union-attr]
    return None


def evaluate(
    rows: pl.DataFrame,
    expression: str,
    *,
    name: str = "statistic",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit: int = MEMORY_LIMIT_BYTES,
) -> StatisticResult:
    """The statistic per problem and overall, on ``rows`` (the filtered solutions), in a child process."""
    columns = [c for c in rows.columns if c != "problem_code"]
    used = check_expression(expression, columns)
    payload = rows.select(list(dict.fromkeys(["problem_id", *used])))
    buffer = io.BytesIO()
    payload.write_ipc(buffer)
    header = json.dumps({"expression": expression.strip()}).encode() + b"\n"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "openmath_kedro.inspector.stats_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: killing it never reaches the app
        env={**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")},
    )
    _limit_child(process.pid, memory_limit)  # before it reads its input (no preexec_fn: the app has threads)
    try:
        stdout, stderr = process.communicate(header + buffer.getvalue(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise StatisticError(
            f"stopped after the {timeout_s:g} s time limit (the app is unaffected)"
        ) from None
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        text = stderr.decode(errors="replace")
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if "memory allocation of" in text or "MemoryError" in text:
            raise StatisticError(
                f"ran out of memory (the statistic's limit is {memory_limit / 1024**3:g} GB)"
            )
        if process.returncode < 0 or not lines:
            raise StatisticError(f"the statistic's process ended with status {process.returncode}")
        if "panicked" in text:
            panic = next(line for line in lines if "panicked" in line)
            raise StatisticError(f"polars failed: {panic.strip()}")
        raise StatisticError(lines[-1])
    result = pl.read_ipc(io.BytesIO(stdout))
    overall = result.filter(pl.col("problem_id").is_null()).get_column("value")
    per_problem = result.filter(pl.col("problem_id").is_not_null())
    return StatisticResult(
        name=name,
        expression=expression.strip(),
        per_problem=per_problem,
        overall=overall[0] if len(overall) else None,
        seconds=round(seconds, 3),
    )


def _limit_child(pid: int, memory_limit: int) -> None:
    try:
        resource.prlimit(pid, resource.RLIMIT_AS, (memory_limit, memory_limit))
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
    except (ProcessLookupError, PermissionError, OSError):
        pass  # it already ended (its result says why) or the platform refuses: the time limit still holds


def run_in_worker(expression: str, table: pl.DataFrame) -> pl.DataFrame:
    """The child's side: check again, evaluate, one row per problem plus the overall row (problem_id null)."""
    check_expression(expression, table.columns)
    namespace = {"pl": _CuratedPolars(), "col": pl.col, "lit": pl.lit, "when": pl.when}
    built = eval(
        compile(ast.parse(expression, mode="eval"), "<statistic>", "eval"), {"__builtins__": {}}, namespace
    )
    if not isinstance(built, pl.Expr):
        built = pl.lit(built)
    per_problem = table.group_by("problem_id").agg(built.alias("value"))
    if isinstance(per_problem.schema["value"], pl.List):
        raise StatisticError(
            "the expression gives several values per problem: reduce it to one (e.g. .mean(), .sum(), .max())"
        )
    overall = table.select(built.alias("value"))
    if overall.height != 1:
        raise StatisticError("the expression gives several values overall: reduce it to one (e.g. .mean())")
    overall = overall.select(pl.lit(None, dtype=pl.String).alias("problem_id"), pl.col("value"))
    return pl.concat([per_problem, overall.cast({"value": per_problem.schema["value"]}, strict=False)])


class _CuratedPolars:
    """``pl`` inside a statistic: only the allowed constructors (the check refuses others before this)."""

    def __getattr__(self, name: str) -> Any:
        if name not in PL_FUNCTIONS:
            raise AttributeError(f"pl.{name} is not available in a statistic")
        return getattr(pl, name)
