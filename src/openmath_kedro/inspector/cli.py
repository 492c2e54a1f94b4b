"""``kedro inspect`` / ``openmath-kedro inspect``: serve the inspector on the project's catalog."""

from __future__ import annotations

import atexit
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

logger = logging.getLogger(__name__)


def _project_root(start: Path) -> Path:
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").is_file() and (directory / "conf").is_dir():
            return directory
    raise click.ClickException(
        f"{start} is not inside a Kedro project (no pyproject.toml with conf/ above it)"
    )


@click.command(name="inspect")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve on (127.0.0.1: this machine only).",
)
@click.option("--port", default=8050, show_default=True, type=int, help="Port to serve on.")
@click.option("--env", "-e", default=None, help="Kedro configuration environment (default: local over base).")
@click.option(
    "--debug",
    is_flag=True,
    default=False,
    help="Dash debug mode: error pop-ups and callback graph in the page.",
)
@click.pass_context
def inspect(context: click.Context, host: str, port: int, env: str | None, debug: bool) -> None:
    """Open the inspector: browse, filter, compare and label solutions; run one problem live."""
    metadata = context.obj
    root = Path(getattr(metadata, "project_path", None) or _project_root(Path.cwd()))
    serve(root, host=host, port=port, env=env, debug=debug)


def serve(root: Path, *, host: str, port: int, env: str | None, debug: bool) -> None:
    from openmath_kedro.inspector.app import InspectorApp
    from openmath_kedro.inspector.project import InspectorProject

    inspector = InspectorApp(InspectorProject(root, env=env))
    app = inspector.app
    atexit.register(inspector.jobs.close)  # the inference process (and its vLLM engine) goes with the app

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    click.echo(
        f"openmath_kedro inspector: http://{host}:{port}/  (project {root}, env {env or 'local'}; Ctrl+C stops it)"
    )
    sys.stdout.flush()
    app.run(host=host, port=port, debug=debug, use_reloader=False, dev_tools_hot_reload=False)
