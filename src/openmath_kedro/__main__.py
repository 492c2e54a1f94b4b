"""openmath_kedro file for ensuring the package is executable
as `openmath-kedro` and `python -m openmath_kedro`

``openmath-kedro inspect [--host --port --env --debug]`` serves the inspector (as ``kedro inspect`` does);
anything else is Kedro's ``run`` (the project's, see cli.py).
"""

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args, **kwargs) -> Any:
    package_name = Path(__file__).parent.name
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    arguments = list(args[0]) if args else sys.argv[1:]
    if arguments[:1] == ["inspect"]:
        from openmath_kedro.inspector.cli import inspect

        return inspect(arguments[1:], prog_name="openmath-kedro inspect", **kwargs)

    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
