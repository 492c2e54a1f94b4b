"""The child process of a custom statistic (see custom_stats.py): stdin = one JSON line + Arrow IPC, stdout = IPC."""

from __future__ import annotations

import io
import json
import sys

import polars as pl

from openmath_kedro.inspector.custom_stats import StatisticError, run_in_worker


def main() -> int:
    data = sys.stdin.buffer.read()
    header, _, body = data.partition(b"\n")
    expression = json.loads(header)["expression"]
    table = pl.read_ipc(io.BytesIO(body))
    try:
        result = run_in_worker(expression, table)
    except StatisticError as error:
        print(f"{error}", file=sys.stderr)
        return 2
    except Exception as error:  # the user's expression failed in polars: its message is the answer
        print(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", file=sys.stderr)
        return 1
    output = io.BytesIO()
    result.write_ipc(output)
    sys.stdout.buffer.write(output.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
