"""Importing the engines package leaves the ``openai`` client unimported until an OpenAIEngine is made."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_does_not_import_openai() -> None:
    # every Kedro command imports engines (through the parameter models); openai takes a second or more.
    # A fresh interpreter: in this one, other tests may have imported it already.
    probe = (
        "import sys, openmath_kedro.engines as engines; before = 'openai' in sys.modules; "
        "engines.OpenAIEngine(model='m', base_urls=['http://127.0.0.1:9/v1']).close(); "
        "print(before, 'openai' in sys.modules)"
    )
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.split() == ["False", "True"]
