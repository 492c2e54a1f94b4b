"""A failed `kedro run` is its message, with the traceback behind --verbose and in the log file; logs off a
terminal are plain lines (openmath_kedro/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_project_copy

KEDRO = str(Path(sys.executable).with_name("kedro"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project_copy(tmp_path_factory.mktemp("errors") / "project", local_globals="{}\n")


def kedro_run(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    for forces_terminal in ("FORCE_COLOR", "TTY_COMPATIBLE"):  # off a terminal, as in CI
        env.pop(forces_terminal, None)
    return subprocess.run(
        [KEDRO, "run", "--pipelines", "data_preparation", *arguments],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_bad_parameter_is_a_short_message_and_the_traceback_is_behind_verbose(project):
    bad = "generation.benchmarks.gsm8kk.prompt=x,generation.engine.vllm.seeds=1"
    result = kedro_run(project, "--params", bad)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert len(output.splitlines()) < 15, output
    assert "Traceback" not in output and "╭" not in output
    assert "ParameterError: invalid parameters:\n  'generation.engine.vllm.seeds': unknown setting" in output
    assert "'generation.benchmarks.gsm8kk': unknown benchmark 'gsm8kk'" in output
    assert "(the full traceback: kedro run --verbose, or info.log)" in output
    # the log file holds the traceback
    assert "Traceback (most recent call last)" in (project / "info.log").read_text()
    # off a terminal, log records are one plain line each (no Rich layout wrapped at 80 columns)
    assert any(
        line.endswith("INFO    kedro.framework.session.session: Kedro project openmath_kedro")
        for line in result.stdout.splitlines()
    ), result.stdout

    verbose = kedro_run(project, "--params", bad, "--verbose")
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "validate_parameters" in verbose.stderr
