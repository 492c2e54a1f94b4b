"""The loop on the real vLLM engine and the real sandbox with the embedded model."""

from __future__ import annotations

import pytest

from openmath_kedro.code_interpreter import InterpreterSettings, SolutionTask, solve_with_code
from openmath_kedro.engines import create_engine
from openmath_kedro.engines.base import SamplingParams
from openmath_kedro.prompts import load_prompt
from openmath_kedro.sandbox import SandboxPool

pytestmark = pytest.mark.integration


def test_model_written_block_runs_in_the_sandbox_and_generation_continues(embedded_checkpoint_dir):
    # The few-shot prompt shows five code blocks; the solution is started inside one, so the 135M model's
    # greedy continuation closes it, and the loop must run it and feed the output back.
    prompt = load_prompt("code_fewshot", examples="gsm8k").render(
        problem="A box holds 6 rows of 7 eggs. How many eggs are in the box?"
    )
    task = SolutionTask(
        key="eggs",
        prompt=prompt,
        prefix="Let's multiply.\n<llm-code>\nprint(6 * 7)\n",
        sampling=SamplingParams(temperature=0.0, max_tokens=48),
    )
    # float32: this CPU has no fast bf16 path in vLLM (about 4x slower, see engines/README.md)
    engine = create_engine(
        kind="vllm", model=str(embedded_checkpoint_dir), dtype="float32", max_model_len=3072
    )
    try:
        with SandboxPool() as sandbox:
            result = solve_with_code(
                [task], engine=engine, runner=sandbox, settings=InterpreterSettings(max_generated_tokens=96)
            )["eggs"]
    finally:
        engine.close()
    assert result.num_code_calls >= 1, result.generation
    assert result.generation.startswith("Let's multiply.\n<llm-code>\nprint(6 * 7)\n")
    assert "</llm-code>\n<llm-code-output>\n42\n</llm-code-output>\n" in result.generation
    assert result.tokens_out > 1  # generation went on after the output
