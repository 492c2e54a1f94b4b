"""The code-interpreter loop: generate until ``</llm-code>``, run the block, append its output, continue.

All open solutions advance together, so the engine always gets the whole batch and the sandbox runs the blocks
of one round in parallel. No Kedro import.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from openmath_kedro.engines.base import Completion, Engine, GenerationRequest, SamplingParams
from openmath_kedro.prompts import CODE_END, CODE_START, OUTPUT_START, format_code_output

ErrorPolicy = Literal["stop", "continue"]

# The finish_reason of a sample the engine failed (server down or overloaded past its retries, request
# aborted, first request refused): not finished work. Such a sample is generated again by the next run;
# a model's own failures (code errors, broken code, running out of tokens) are finished samples.
ENGINE_ERROR = "error"


class CodeSession(Protocol):
    def close(self) -> None: ...


class CodeResult(Protocol):
    output: str

    @property
    def ok(self) -> bool: ...


class CodeRunner(Protocol):
    """What the loop needs from the sandbox (``openmath_kedro.sandbox.SandboxPool`` is one)."""

    def session(self) -> CodeSession: ...

    def execute_many(
        self, codes: Sequence[str], *, sessions: Sequence[CodeSession], timeout: float, max_output: int
    ) -> Sequence[CodeResult]: ...


@dataclass(frozen=True, kw_only=True)
class InterpreterSettings:
    """Limits of one solution."""

    max_code_rounds: int = 3  # code blocks executed per solution
    max_generated_tokens: int = 1024  # over all rounds of one solution
    error_policy: ErrorPolicy = (
        "stop"  # "stop": data generation; "continue": show the error, as in evaluation
    )
    code_timeout_s: float = 10.0
    max_output_chars: int = 1000


@dataclass(frozen=True)
class SolutionTask:
    """One sample to generate: the rendered prompt and how to sample it.

    ``prefix`` is forced text the solution starts with (it is part of the generation), e.g. an opened
    ``<llm-code>`` block to make a model use code.
    """

    key: str
    prompt: str
    sampling: SamplingParams
    prefix: str = ""


@dataclass
class SolutionResult:
    """A sample's outcome. ``finish_reason``: stop, length, code_error, max_code_rounds, broken_code, or
    ``ENGINE_ERROR`` (the engine failed it: ``error`` says how; generated again by the next run)."""

    generation: str = ""
    num_code_calls: int = 0
    code_errors: int = 0
    finish_reason: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class _OpenSolution:
    task: SolutionTask
    started: float
    result: SolutionResult = field(default_factory=SolutionResult)
    session: CodeSession | None = None


def solve_with_code(
    tasks: Sequence[SolutionTask],
    *,
    engine: Engine,
    runner: CodeRunner,
    settings: InterpreterSettings,
    on_finished: Callable[[SolutionTask, SolutionResult], None] | None = None,
) -> dict[str, SolutionResult]:
    """Generate every task to the end, executing its code blocks in its own sandbox session."""
    open_solutions = [
        _OpenSolution(task=task, started=time.monotonic(), result=SolutionResult(generation=task.prefix))
        for task in tasks
    ]
    finished: dict[str, SolutionResult] = {}

    def finish(solution: _OpenSolution, reason: str, error: str | None = None) -> None:
        solution.result.finish_reason = reason
        solution.result.error = error
        solution.result.seconds = round(time.monotonic() - solution.started, 3)
        if solution.session is not None:
            solution.session.close()
        finished[solution.task.key] = solution.result
        if on_finished is not None:
            on_finished(solution.task, solution.result)

    while open_solutions:
        requests = [_next_request(solution, settings) for solution in open_solutions]
        completions = engine.generate(requests)
        to_execute: list[tuple[_OpenSolution, str]] = []
        still_open: list[_OpenSolution] = []
        for solution, completion in zip(open_solutions, completions, strict=True):
            outcome = _absorb(solution, completion, settings)
            if outcome is None:
                code = _last_code_block(solution.result.generation)
                if code is None:
                    finish(solution, "broken_code", "</llm-code> without a matching <llm-code>")
                else:
                    to_execute.append((solution, code))
            else:
                finish(solution, *outcome)
        for solution, result in zip(
            [s for s, _ in to_execute], _run_blocks(to_execute, runner=runner, settings=settings), strict=True
        ):
            solution.result.num_code_calls += 1
            solution.result.generation += format_code_output(result.output)
            if not result.ok:
                solution.result.code_errors += 1
                if settings.error_policy == "stop":
                    finish(solution, "code_error")
                    continue
            still_open.append(solution)
        open_solutions = still_open
    return finished


def _next_request(solution: _OpenSolution, settings: InterpreterSettings) -> GenerationRequest:
    sampling = solution.task.sampling
    remaining = settings.max_generated_tokens - solution.result.tokens_out
    # A model that writes the output tag itself is inventing a result: stop there instead of paying for it.
    stop = (*sampling.stop, CODE_END, OUTPUT_START)
    if solution.result.num_code_calls >= settings.max_code_rounds:
        stop = (*stop, CODE_START)  # no more blocks: end the solution where the next one would start
    return GenerationRequest(
        prompt=solution.task.prompt + solution.result.generation,
        sampling=replace(sampling, stop=stop, max_tokens=max(1, min(sampling.max_tokens, remaining))),
    )


def _absorb(
    solution: _OpenSolution, completion: Completion, settings: InterpreterSettings
) -> tuple[str] | tuple[str, str] | None:
    """Append a completion; return why the solution ends, or None when a code block must run."""
    result = solution.result
    if result.tokens_in == 0:
        result.tokens_in = completion.tokens_in  # the prompt once; continuations re-send our own text
    result.tokens_out += completion.tokens_out
    if completion.finish_reason == "error":
        message = completion.error or "the engine returned an error"
        if completion.rejected and result.num_code_calls > 0:
            # a continuation refused for itself (the model's text and code outputs outgrew the context):
            # the solution is over, as with "length", and sending it again would get the same answer
            return ("length", message)
        return (ENGINE_ERROR, message)
    result.generation += completion.text
    if completion.stop_reason == CODE_START:
        return ("max_code_rounds",)
    if completion.stop_reason == OUTPUT_START:
        return ("broken_code", f"the model wrote {OUTPUT_START} itself; outputs come from the sandbox")
    if completion.stop_reason == CODE_END:
        result.generation += CODE_END
        return None
    if completion.finish_reason == "length" or result.tokens_out >= settings.max_generated_tokens:
        return ("length",)
    return ("stop",)


def _last_code_block(generation: str) -> str | None:
    start = generation.rfind(CODE_START)
    end = generation.rfind(CODE_END)
    if start == -1 or end < start:
        return None
    return generation[start + len(CODE_START) : end].strip("\n")


def _run_blocks(
    blocks: list[tuple[_OpenSolution, str]], *, runner: CodeRunner, settings: InterpreterSettings
) -> Sequence[CodeResult]:
    if not blocks:
        return []
    for solution, _ in blocks:
        if solution.session is None:
            solution.session = runner.session()
    return runner.execute_many(
        [code for _, code in blocks],
        sessions=[solution.session for solution, _ in blocks],
        timeout=settings.code_timeout_s,
        max_output=settings.max_output_chars,
    )
