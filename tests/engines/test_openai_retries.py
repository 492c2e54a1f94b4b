"""OpenAIEngine against tiny scripted HTTP servers: retries, backoff, error answers, several base URLs."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openmath_kedro.engines import EngineError, GenerationRequest, OpenAIEngine, SamplingParams

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

OK_BODY = {
    "id": "cmpl-1",
    "object": "text_completion",
    "model": "m",
    "choices": [{"index": 0, "text": " 42", "finish_reason": "stop", "stop_reason": "</llm-code>"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
}


@dataclass
class Script:
    """What a fake server answers: (status, body) in turn, then the last one forever."""

    answers: list[tuple[int, dict]]
    delay_s: float = 0.0
    attempts: list[tuple[float, dict]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def serve(script: Script) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                index = len(script.attempts)
                script.attempts.append((time.monotonic(), body))
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
            time.sleep(script.delay_s)
            status, answer = script.answers[min(index, len(script.answers) - 1)]
            payload = json.dumps(answer).encode()
            with script.lock:
                script.in_flight -= 1
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - the model list start() checks
            payload = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def fake() -> Iterator:
    servers: list[ThreadingHTTPServer] = []

    def start(answers: list[tuple[int, dict]], delay_s: float = 0.0) -> tuple[Script, str]:
        script = Script(answers=answers, delay_s=delay_s)
        server, url = serve(script)
        servers.append(server)
        return script, url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """A URL nothing listens on (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def error_body(message: str) -> dict:
    return {"error": {"message": message, "type": "BadRequestError", "code": 400}}


def test_retries_429_and_503_with_growing_backoff(fake) -> None:
    script, url = fake([(429, error_body("slow down")), (503, error_body("busy")), (429, {}), (200, OK_BODY)])
    with OpenAIEngine(model="m", base_urls=[url], max_retries=5) as engine:
        [completion] = engine.generate([GenerationRequest("p", SamplingParams(stop=("</llm-code>",)))])
    assert completion.text == " 42"
    assert completion.finish_reason == "stop" and completion.stop_reason == "</llm-code>"
    assert (completion.tokens_in, completion.tokens_out) == (7, 2)
    times = [moment for moment, _ in script.attempts]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # the openai client's exponential backoff: the server is not hammered
    assert min(gaps) > 0.1 and gaps[2] > gaps[0], gaps


def test_context_length_400_is_an_error_completion_not_an_exception(fake) -> None:
    message = "This model's maximum context length is 2048 tokens. However, you requested 5000 tokens."
    script, url = fake([(400, error_body(message))])
    with OpenAIEngine(model="m", base_urls=[url]) as engine:
        [completion] = engine.generate([GenerationRequest("too long")])
    assert completion.finish_reason == "error"
    assert "maximum context length" in completion.error and url in completion.error
    assert len(script.attempts) == 1  # a 400 is not retried


def test_persistent_5xx_gives_up_with_an_error_completion(fake) -> None:
    script, url = fake([(500, error_body("internal"))])
    with OpenAIEngine(model="m", base_urls=[url], max_retries=3) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.finish_reason == "error" and "HTTP 500" in completion.error
    assert len(script.attempts) == 4


def test_read_timeout_is_retried(fake) -> None:
    script, url = fake([(200, OK_BODY)], delay_s=0.6)
    with OpenAIEngine(model="m", base_urls=[url], timeout_s=0.3, max_retries=1) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.finish_reason == "error" and "Timeout" in completion.error
    assert len(script.attempts) == 2


def test_request_body_carries_sampling_seed_and_stop(fake) -> None:
    script, url = fake([(200, OK_BODY)])
    sampling = SamplingParams(
        temperature=0.7, top_p=0.95, max_tokens=33, stop=("</llm-code>", "\n\n"), seed=11
    )
    with OpenAIEngine(model="served", base_urls=[url], api_key="k") as engine:
        engine.generate([GenerationRequest("Q:", sampling), GenerationRequest("R:")])
    bodies = sorted((body for _, body in script.attempts), key=lambda body: body["prompt"])
    assert bodies[0] == {
        "model": "served",
        "prompt": "Q:",
        "max_tokens": 33,
        "temperature": 0.7,
        "top_p": 0.95,
        "stop": ["</llm-code>", "\n\n"],
        "seed": 11,
    }
    assert "seed" not in bodies[1] and "stop" not in bodies[1]


def test_chat_mode_and_servers_without_stop_reason(fake) -> None:
    chat = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    script, url = fake([(200, chat)])
    with OpenAIEngine(model="m", base_urls=[url], mode="chat") as engine:
        [completion] = engine.generate([GenerationRequest("hello")])
    assert completion.text == "hi" and completion.finish_reason == "length" and completion.stop_reason is None
    assert script.attempts[0][1]["messages"] == [{"role": "user", "content": "hello"}]


def test_spreads_over_base_urls_and_bounds_concurrency(fake) -> None:
    first, first_url = fake([(200, OK_BODY)], delay_s=0.05)
    second, second_url = fake([(200, OK_BODY)], delay_s=0.05)
    with OpenAIEngine(model="m", base_urls=[first_url, second_url], max_concurrency=4) as engine:
        completions = engine.generate([GenerationRequest(f"p{i}") for i in range(24)])
    assert all(completion.text == " 42" for completion in completions)
    assert len(first.attempts) + len(second.attempts) == 24
    assert len(first.attempts) >= 6 and len(second.attempts) >= 6
    assert first.max_in_flight + second.max_in_flight <= 4


def test_dead_url_among_live_ones_fails_over(fake) -> None:
    live, live_url = fake([(200, OK_BODY)])
    with OpenAIEngine(model="m", base_urls=[dead_url(), live_url], backoff_s=5.0, max_retries=5) as engine:
        started = time.monotonic()
        completions = engine.generate([GenerationRequest(f"p{i}") for i in range(10)])
    assert [completion.finish_reason for completion in completions] == ["stop"] * 10
    assert len(live.attempts) == 10
    # failover waits out neither backoff_s nor the client's backoff (0.5 s doubling: 12 s for 5 retries)
    assert time.monotonic() - started < 2.5


def test_unreachable_only_raises_engine_error_naming_every_url() -> None:
    urls = [dead_url(), dead_url()]
    with OpenAIEngine(model="m", base_urls=urls, backoff_s=0.01, max_retries=2) as engine:
        with pytest.raises(EngineError) as caught:
            engine.generate([GenerationRequest(f"p{i}") for i in range(5)])
    for url in urls:
        assert url in str(caught.value)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(EngineError, match="base URL"):
        OpenAIEngine(model="m", base_urls=[])
    with pytest.raises(EngineError, match="mode"):
        OpenAIEngine(model="m", base_urls=["http://x/v1"], mode="edit")  # type: ignore[arg-type]


def test_start_checks_that_an_endpoint_serves_the_model(fake) -> None:
    _, url = fake([(200, OK_BODY)])
    down = dead_url()
    with OpenAIEngine(model="m", base_urls=[down, url]) as engine:
        engine.start()  # one live URL serving "m" is enough
    with OpenAIEngine(model="other", base_urls=[url]) as engine:
        with pytest.raises(EngineError, match=r"serves \['m'\], not 'other'"):
            engine.start()
    with OpenAIEngine(model="m", base_urls=[down]) as engine:
        with pytest.raises(EngineError, match=f"no OpenAI-compatible endpoint answers for model 'm': {down}"):
            engine.start()
