"""The project's command line: Kedro's ``run`` with short errors, and logs readable off a terminal.

Kedro uses this module's ``cli`` group before its own commands (``kedro run`` and ``python -m openmath_kedro``):

- A failed run prints the error's message (for bad parameters: every problem, one a line) and where the full
  traceback is: ``kedro run --verbose`` (``-v``) prints it, and the log file of ``conf/logging.yml`` (info.log)
  holds it. Without this, each error sat under 180 to 900 lines of Rich traceback.
- Off a terminal (CI logs, ``| tee``, a file), ``kedro run``'s log records are plain one-line text (time, level, logger,
  message) instead of Rich's layout wrapped at 80 columns, and tracebacks are Python's own; on a terminal
  Rich is kept. Kedro 1.7 only accepts ``logging`` and ``kedro.logging`` classes in ``logging.yml``, so the
  choice is made here, when the command line starts.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
PLAIN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

logger = logging.getLogger(__name__)


@click.group(name="openmath_kedro")
def cli() -> None:
    """Commands of the openmath_kedro project (Kedro's own are available too)."""


def use_plain_logs_off_terminal(stream: Any = None) -> bool:
    """Swap Rich console handlers of the root logger for plain ones when ``stream`` is not a terminal.

    Returns whether it swapped. Rich's traceback hook goes too, so ``--verbose`` prints Python's traceback.
    """
    stream = stream or sys.stdout
    if _is_terminal(stream):
        return False
    import rich.logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, rich.logging.RichHandler):
            plain = logging.StreamHandler(stream)
            plain.setLevel(handler.level)
            plain.setFormatter(logging.Formatter(PLAIN_FORMAT, PLAIN_DATE_FORMAT))
            for log_filter in handler.filters:
                plain.addFilter(log_filter)
            root.removeHandler(handler)
            root.addHandler(plain)
    sys.excepthook = sys.__excepthook__
    return True


def _is_terminal(stream: Any) -> bool:
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":  # Rich's own overrides
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class RunFailed(click.ClickException):
    """A failed run as the message only, and where its traceback is (exit status 1)."""

    def __init__(self, error: BaseException, log_files: list[str]) -> None:
        self.error = error
        places = ["kedro run --verbose", *log_files]
        super().__init__(f"{type(error).__name__}: {error}\n(the full traceback: {', or '.join(places)})")

    def show(self, file: Any = None) -> None:
        click.echo(self.message, file=file or sys.stderr)


def _log_to_files(error: BaseException) -> list[str]:
    """Write the error with its traceback to the root logger's log files only; their paths, for the message."""
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        0,
        "kedro run failed",
        (),
        (type(error), error, error.__traceback__),
    )
    paths = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)
            path = Path(handler.baseFilename)
            paths.append(str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path))
    return paths


def _short_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        use_plain_logs_off_terminal()
        try:
            return callback(*args, **kwargs)
        except Exception as error:
            if verbose:
                raise
            raise RunFailed(error, _log_to_files(error)) from error

    return run


def _run_command() -> click.Command:
    """Kedro's ``run`` command (every option of it), plus ``--verbose``, its errors short without it."""
    command = copy.copy(kedro_run)
    command.params = [
        *kedro_run.params,
        click.Option(
            ["--verbose", "-v"], is_flag=True, default=False, help="Print the full traceback of an error."
        ),
    ]
    command.callback = _short_errors(kedro_run.callback)
    return command


run = _run_command()
cli.add_command(run, "run")


def _inspect_command() -> click.Command:
    """``kedro inspect``: the inspector web app (openmath_kedro.inspector; Dash is imported when it starts)."""
    from openmath_kedro.inspector.cli import inspect

    return inspect


cli.add_command(_inspect_command(), "inspect")
