"""What running one code block returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# exception: the code raised (SyntaxError included); timeout: wall clock or CPU limit; memory: memory limit;
# crash: the interpreter died (segfault, os._exit, closed channel); sandbox: the sandbox itself failed.
ErrorKind = Literal["exception", "timeout", "memory", "crash", "sandbox"]


def truncation_marker(omitted: int) -> str:
    return f"\n[... output truncated: {omitted} more characters not shown ...]\n"


@dataclass(frozen=True, kw_only=True)
class ExecutionResult:
    """Result of one block.

    ``output`` is the text the model sees: what the block printed (plus the repr of a trailing expression),
    truncated with a marker, followed by the error message if there is one. ``error`` is that message alone.
    """

    output: str
    error: str = ""
    error_kind: ErrorKind | None = None
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def build_output(*, printed: str, printed_chars: int, error: str, max_output: int) -> tuple[str, bool]:
    """Join printed text and error into the model's text; returns (text, truncated)."""
    truncated = printed_chars > max_output or len(printed) > max_output
    if truncated:
        omitted = max(printed_chars, len(printed)) - max_output
        printed = printed[:max_output] + truncation_marker(omitted)
    if error and printed and not printed.endswith("\n"):
        printed += "\n"
    return printed + error, truncated
