"""Sandbox throughput: the bubblewrap worker pool against NeMo-Skills v0.1's design, printed as one JSON object.

The baseline starts a fresh ``python`` process per request, and a request for block k of a solution runs
blocks 1..k again (output of the earlier ones discarded) - no isolation at all. Ours runs with the full
isolation on. Both use the same number of concurrent clients (the number of cores, 2 on CI).

    .venv/bin/python benchmarks/sandbox_throughput.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from openmath_kedro.sandbox import SandboxConfig, SandboxPool

TRIVIAL = ["print(17 * 23 + 4)"]
SYMPY = ["import sympy as sp\nx = sp.Symbol('x')\nprint(sp.solve(x**2 - 5*x + 6, x))"]
STATEFUL = [
    "from fractions import Fraction\nprices = [Fraction(3, 2), Fraction(5, 4), Fraction(7, 8)]",
    "total = sum(prices)\nprint(total)",
    "import math\nprint(math.ceil(total * 100) / 100)",
]
WORKLOADS = {"a_trivial_block": TRIVIAL, "b_sympy_solve": SYMPY, "c_three_blocks_with_state": STATEFUL}


def _baseline_block(blocks: list[str], index: int) -> str:
    """One baseline request: a fresh interpreter that re-runs the earlier blocks silently."""
    earlier = "\n".join(blocks[:index])
    program = "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    program += textwrap.indent(earlier or "pass", "    ") + "\n" + blocks[index]
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    return completed.stdout + completed.stderr


def _measure(solve: Callable[[], list[float]], *, clients: int, seconds: float, blocks: int) -> dict:
    """Run solutions from ``clients`` threads for ``seconds``; per-block latencies and blocks per second."""
    deadline = time.monotonic() + seconds

    def client() -> list[float]:
        latencies: list[float] = []
        while time.monotonic() < deadline:
            latencies += solve()
        return latencies

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as executor:
        latencies = [x for part in executor.map(lambda _: client(), range(clients)) for x in part]
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "blocks": len(latencies),
        "blocks_per_second": round(len(latencies) / elapsed, 1),
        "solutions_per_second": round(len(latencies) / blocks / elapsed, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
    }


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per workload and design")
    parser.add_argument("--clients", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    report: dict = {"cpu_count": os.cpu_count(), "clients": args.clients, "seconds_per_run": args.seconds}
    started = time.monotonic()
    with SandboxPool(SandboxConfig(workers=args.clients)) as pool:
        report["pool_start_seconds"] = round(time.monotonic() - started, 2)
        expected = {
            name: [_baseline_block(blocks, i) for i in range(len(blocks))]
            for name, blocks in WORKLOADS.items()
        }
        for name, blocks in WORKLOADS.items():

            def ours(blocks: list[str] = blocks) -> list[float]:
                with pool.session() as solution:
                    return [_timed(lambda code=code: solution.execute(code)) for code in blocks]

            def baseline(blocks: list[str] = blocks) -> list[float]:
                return [_timed(lambda i=i: _baseline_block(blocks, i)) for i in range(len(blocks))]

            with pool.session() as check:  # same answers as the baseline, before timing anything
                outputs = [check.execute(code).output for code in blocks]
            assert outputs == expected[name], (name, outputs, expected[name])
            sandbox = _measure(ours, clients=args.clients, seconds=args.seconds, blocks=len(blocks))
            fresh = _measure(baseline, clients=args.clients, seconds=args.seconds, blocks=len(blocks))
            report[name] = {
                "sandbox_pool": sandbox,
                "baseline_fresh_python": fresh,
                "throughput_ratio": round(sandbox["blocks_per_second"] / fresh["blocks_per_second"], 1),
                "p50_latency_ratio": round(fresh["p50_ms"] / sandbox["p50_ms"], 1),
            }
    report["goal_5x_on_a_and_c"] = all(
        report[name]["throughput_ratio"] >= 5 for name in ("a_trivial_block", "c_three_blocks_with_state")
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
