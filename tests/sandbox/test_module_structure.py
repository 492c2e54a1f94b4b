"""The sandbox package's boundary: the host side imports only the wire (framing) of the worker's code.

The jail, the cell runner and the zygote run inside the sandbox; the host only ships their text there
(isolation.py). Imports are read with ``ast``, so nothing here runs the modules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from openmath_kedro.sandbox import isolation, jail

PACKAGE = "openmath_kedro.sandbox"
PACKAGE_DIR = Path(isolation.__file__).parent
HOST_MODULES = ("__init__", "config", "default_pool", "isolation", "pool", "result")
INSIDE_ONLY = {"jail", "cell_runner", "zygote"}


def sandbox_imports(source: str) -> set[str]:
    """Modules of this package that ``source`` (a module directly in it) imports, by their short name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            base = f"{PACKAGE}.{node.module}" if node.module else PACKAGE
            names = [base] if node.module else [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name.split(".")[2] for name in names if name.startswith(f"{PACKAGE}."))
    return found


def load_time_imports(source: str) -> set[str]:
    """Top-level names of the absolute imports ``source`` runs when it is loaded (not those in functions)."""
    found: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def module_source(name: str) -> str:
    return (PACKAGE_DIR / f"{name}.py").read_text()


def test_the_import_reader_sees_every_form() -> None:
    forms = {
        "from .jail import enter_session_jail": {"jail"},
        "from . import zygote, framing": {"zygote", "framing"},
        "import openmath_kedro.sandbox.cell_runner": {"cell_runner"},
        "from openmath_kedro.sandbox import jail": {"jail"},
        "from openmath_kedro.sandbox.zygote import Zygote": {"zygote"},
        "def later():\n    from .jail import apply_rlimits": {"jail"},
        "from .framing import FrameReader\nimport os": {"framing"},
    }
    for source, expected in forms.items():
        assert sandbox_imports(source) == expected, source


@pytest.mark.parametrize("host_module", HOST_MODULES)
def test_host_side_never_imports_the_code_that_runs_inside_the_sandbox(host_module: str) -> None:
    imported = sandbox_imports(module_source(host_module))
    assert not imported & INSIDE_ONLY, f"{host_module}.py imports {sorted(imported & INSIDE_ONLY)}"


def test_every_module_of_the_package_is_on_one_side() -> None:
    on_disk = {path.stem for path in PACKAGE_DIR.glob("*.py")}
    assert on_disk == set(HOST_MODULES) | set(isolation.WORKER_MODULES)


def test_worker_modules_load_in_the_launchers_order_from_the_standard_library_alone() -> None:
    """The launcher loads WORKER_MODULES in order: each may import only earlier ones and the stdlib."""
    assert isolation.WORKER_MODULES[-1] == "zygote"  # the launcher calls the last one's main()
    for index, name in enumerate(isolation.WORKER_MODULES):
        source = module_source(name)
        assert sandbox_imports(source) <= set(isolation.WORKER_MODULES[:index]), name
        assert load_time_imports(source) <= set(sys.stdlib_module_names), name


def test_the_host_grants_the_capabilities_the_jail_keeps() -> None:
    assert sorted(isolation.ZYGOTE_CAPABILITIES) == sorted(jail.ZYGOTE_CAPABILITIES)
