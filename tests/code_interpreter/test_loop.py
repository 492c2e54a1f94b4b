"""The code-interpreter loop with a scripted engine double and the real bubblewrap sandbox."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from openmath_kedro.code_interpreter import InterpreterSettings, SolutionTask, solve_with_code
from openmath_kedro.engines.base import Completion, GenerationRequest, SamplingParams
from openmath_kedro.sandbox import SandboxConfig, SandboxLimits, SandboxPool

pytestmark = pytest.mark.integration  # the sandbox is real


class ScriptedEngine:
    """Plays back, per prompt, a list of completions; records every request and batch size."""

    name = "scripted"
    model = "script"

    def __init__(self, scripts: dict[str, list[Completion]]) -> None:
        self._scripts = {prompt: list(steps) for prompt, steps in scripts.items()}
        self.requests: list[GenerationRequest] = []
        self.batch_sizes: list[int] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.batch_sizes.append(len(requests))
        self.requests.extend(requests)
        completions = []
        for request in requests:
            prompt = next(p for p in self._scripts if request.prompt.startswith(p))
            completions.append(self._scripts[prompt].pop(0))
        return completions

    def close(self) -> None:
        pass


def code_step(text: str, tokens: int = 10) -> Completion:
    return Completion(
        text=text, finish_reason="stop", stop_reason="</llm-code>", tokens_in=50, tokens_out=tokens
    )


def final_step(text: str, tokens: int = 10, finish_reason: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish_reason, tokens_in=60, tokens_out=tokens)


@pytest.fixture(scope="module")
def sandbox():
    with SandboxPool(
        SandboxConfig(workers=2, limits=SandboxLimits(timeout_s=5, max_output_chars=200))
    ) as pool:
        yield pool


def task(prompt: str, key: str | None = None) -> SolutionTask:
    return SolutionTask(key=key or prompt, prompt=prompt, sampling=SamplingParams(max_tokens=100))


def test_code_output_is_appended_and_generation_continues(sandbox):
    engine = ScriptedEngine(
        {
            "P1:": [
                code_step("Let me compute.\n<llm-code>\nx = 6 * 7\nprint(x)\n"),
                code_step("\nAnd double it:\n<llm-code>\nprint(2 * x)\n"),
                final_step("\nSo the answer is $\\boxed{84}$."),
            ]
        }
    )
    result = solve_with_code([task("P1:")], engine=engine, runner=sandbox, settings=InterpreterSettings())[
        "P1:"
    ]
    assert result.generation == (
        "Let me compute.\n<llm-code>\nx = 6 * 7\nprint(x)\n</llm-code>\n<llm-code-output>\n42\n</llm-code-output>\n"
        "\nAnd double it:\n<llm-code>\nprint(2 * x)\n</llm-code>\n<llm-code-output>\n84\n</llm-code-output>\n"
        "\nSo the answer is $\\boxed{84}$."
    )  # the second block saw x from the first: one sandbox session per solution
    assert (result.num_code_calls, result.code_errors, result.finish_reason) == (2, 0, "stop")
    assert (result.tokens_in, result.tokens_out) == (50, 30)
    # each continuation sends the prompt plus everything generated so far, and always stops at </llm-code>
    assert engine.requests[2].prompt.startswith("P1:Let me compute.") and engine.requests[2].prompt.endswith(
        "84\n</llm-code-output>\n"
    )
    assert all("</llm-code>" in r.sampling.stop for r in engine.requests)


def test_open_solutions_advance_together(sandbox):
    engine = ScriptedEngine(
        {
            "A:": [code_step("<llm-code>\nprint(1)\n"), final_step(" done \\boxed{1}")],
            "B:": [final_step("no code \\boxed{2}")],
            "C:": [
                code_step("<llm-code>\nprint(3)\n"),
                code_step("<llm-code>\nprint(4)\n"),
                final_step("\\boxed{4}"),
            ],
        }
    )
    results = solve_with_code(
        [task("A:"), task("B:"), task("C:")], engine=engine, runner=sandbox, settings=InterpreterSettings()
    )
    assert engine.batch_sizes == [3, 2, 1]
    assert [results[k].num_code_calls for k in ("A:", "B:", "C:")] == [1, 0, 2]


def test_stop_at_first_code_error(sandbox):
    engine = ScriptedEngine({"E:": [code_step("<llm-code>\nprint(1 / 0)\n"), final_step("never asked")]})
    result = solve_with_code([task("E:")], engine=engine, runner=sandbox, settings=InterpreterSettings())[
        "E:"
    ]
    assert result.finish_reason == "code_error"
    assert result.code_errors == 1
    assert "ZeroDivisionError: division by zero" in result.generation
    assert result.generation.endswith("</llm-code-output>\n")
    assert len(engine.requests) == 1


def test_show_the_error_and_continue(sandbox):
    engine = ScriptedEngine(
        {"E:": [code_step("<llm-code>\nprint(undefined_name)\n"), final_step("\nFixed: \\boxed{3}")]}
    )
    settings = InterpreterSettings(error_policy="continue")
    result = solve_with_code([task("E:")], engine=engine, runner=sandbox, settings=settings)["E:"]
    assert result.finish_reason == "stop" and result.code_errors == 1
    assert "NameError" in result.generation and result.generation.endswith("Fixed: \\boxed{3}")


def test_code_round_limit_stops_before_the_next_block(sandbox):
    engine = ScriptedEngine(
        {
            "R:": [
                code_step("<llm-code>\nprint(1)\n"),
                Completion(
                    text="\nOne more:\n", finish_reason="stop", stop_reason="<llm-code>", tokens_out=3
                ),
            ]
        }
    )
    settings = InterpreterSettings(max_code_rounds=1)
    result = solve_with_code([task("R:")], engine=engine, runner=sandbox, settings=settings)["R:"]
    assert result.finish_reason == "max_code_rounds" and result.num_code_calls == 1
    assert "<llm-code>" in engine.requests[1].sampling.stop  # the second request may not open a block


def test_token_budget_over_all_rounds(sandbox):
    engine = ScriptedEngine(
        {"T:": [code_step("<llm-code>\nprint(5)\n", tokens=70), final_step("and then some", tokens=30)]}
    )
    settings = InterpreterSettings(max_generated_tokens=100)
    result = solve_with_code([task("T:")], engine=engine, runner=sandbox, settings=settings)["T:"]
    assert engine.requests[1].sampling.max_tokens == 30  # what is left of the solution's budget
    assert result.finish_reason == "length" and result.tokens_out == 100


def test_closing_tag_without_opening_tag_is_broken_code(sandbox):
    engine = ScriptedEngine({"X:": [code_step("just text then a stray tag")]})
    result = solve_with_code([task("X:")], engine=engine, runner=sandbox, settings=InterpreterSettings())[
        "X:"
    ]
    assert result.finish_reason == "broken_code" and result.num_code_calls == 0


def test_an_output_tag_written_by_the_model_ends_the_solution_unexecuted(sandbox):
    invented = Completion(
        text="<llm-code>\nprint(6 * 7)\n", finish_reason="stop", stop_reason="<llm-code-output>", tokens_out=9
    )
    engine = ScriptedEngine({"F:": [invented]})
    result = solve_with_code([task("F:")], engine=engine, runner=sandbox, settings=InterpreterSettings())[
        "F:"
    ]
    assert "<llm-code-output>" in engine.requests[0].sampling.stop
    assert result.finish_reason == "broken_code" and result.num_code_calls == 0
    assert "wrote <llm-code-output> itself" in result.error
    assert result.generation == "<llm-code>\nprint(6 * 7)\n"


def test_engine_error_is_recorded_per_sample(sandbox):
    engine = ScriptedEngine(
        {
            "L:": [
                Completion(text="", finish_reason="error", error="prompt is 9000 tokens, longer than 4096")
            ],
            "OK:": [final_step("\\boxed{1}")],
        }
    )
    results = solve_with_code(
        [task("L:"), task("OK:")], engine=engine, runner=sandbox, settings=InterpreterSettings()
    )
    assert results["L:"].finish_reason == "error" and "9000 tokens" in results["L:"].error
    assert results["OK:"].finish_reason == "stop"


def test_on_finished_reports_every_sample_once(sandbox):
    engine = ScriptedEngine(
        {"A:": [final_step("\\boxed{1}")], "B:": [code_step("<llm-code>\nprint(2)\n"), final_step("")]}
    )
    seen = []
    solve_with_code(
        [task("A:"), task("B:")],
        engine=engine,
        runner=sandbox,
        settings=InterpreterSettings(),
        on_finished=lambda t, r: seen.append((t.key, r.finish_reason)),
    )
    assert seen == [("A:", "stop"), ("B:", "stop")]
