"""OpenAIEngine against a scripted server: transient failures are retried, persistent ones stop at once."""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from openmath_kedro.engines import EngineError, GenerationRequest, OpenAIEngine

from .fake_openai_server import RESET, FakeServer, completion_body, error_body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

OK = (200, completion_body())


@pytest.fixture
def fake() -> Iterator:
    servers: list[FakeServer] = []

    def start(respond, port: int = 0) -> FakeServer:
        servers.append(FakeServer(respond, port=port))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_404_model_not_found_stops_at_once_naming_url_and_model(fake) -> None:
    server = fake(lambda index, body: (404, error_body("The model `m` does not exist.", 404)))
    with OpenAIEngine(model="m", base_urls=[server.url], max_retries=5) as engine:
        started = time.monotonic()
        with pytest.raises(EngineError) as caught:
            engine.generate([GenerationRequest(f"p{i}") for i in range(20)])
    assert time.monotonic() - started < 2  # no backoff waited
    message = str(caught.value)
    assert server.url in message and "'m'" in message and "HTTP 404" in message
    assert "does not exist" in message
    assert len(server.requests) <= engine.max_concurrency  # the queued rest is dropped


@pytest.mark.parametrize("status", [408, 409, 502, 503])
def test_transient_statuses_are_retried(fake, status: int) -> None:
    server = fake(lambda index, body: (status, error_body("busy", status)) if index < 2 else OK)
    with OpenAIEngine(model="m", base_urls=[server.url], max_retries=3) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.error is None and completion.text.endswith("\\boxed{1}.")
    assert len(server.requests) == 3


def test_a_reset_connection_is_retried(fake) -> None:
    server = fake(lambda index, body: RESET if index == 0 else OK)
    with OpenAIEngine(model="m", base_urls=[server.url], max_retries=2) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.error is None and len(server.requests) == 2


def test_retries_given_up_are_an_engine_failure_not_a_rejection(fake) -> None:
    server = fake(lambda index, body: (503, error_body("overloaded", 503)))
    with OpenAIEngine(model="m", base_urls=[server.url], max_retries=2) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.finish_reason == "error" and not completion.rejected
    assert "gave up after 3 attempts" in completion.error and "HTTP 503: overloaded" in completion.error


def test_a_request_refused_for_itself_is_a_rejection(fake) -> None:
    server = fake(lambda index, body: (400, error_body("maximum context length is 2048 tokens", 400)))
    with OpenAIEngine(model="m", base_urls=[server.url]) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.finish_reason == "error" and completion.rejected
    assert len(server.requests) == 1


@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms", "date"])
def test_429_waits_what_retry_after_asks(fake, header: str) -> None:
    wait_s = 0.6

    def headers() -> dict[str, str]:
        if header == "retry-after":
            return {"Retry-After": str(wait_s)}
        if header == "retry-after-ms":
            return {"retry-after-ms": str(int(wait_s * 1000))}
        # an HTTP date has whole seconds: 2 s from now is between 1 and 2 s away
        return {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}

    server = fake(lambda index, body: (429, error_body("slow down", 429), headers()) if index == 0 else OK)
    with OpenAIEngine(model="m", base_urls=[server.url], max_retries=2) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.error is None
    (first, _), (second, _) = server.requests
    assert second - first >= (0.95 if header == "date" else wait_s * 0.95)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_api_key_stops_at_once_naming_the_url(fake, status: int) -> None:
    server = fake(lambda index, body: (status, error_body("Invalid API key", status)))
    with OpenAIEngine(model="m", base_urls=[server.url], api_key="sk-wrong", max_retries=5) as engine:
        with pytest.raises(
            EngineError, match=rf"refused the API key \(HTTP {status}: Invalid API key\)"
        ) as caught:
            engine.generate([GenerationRequest(f"p{i}") for i in range(20)])
    assert server.url in str(caught.value) and "engine.credentials" in str(caught.value)
    assert len(server.requests) <= engine.max_concurrency  # not retried, the queued rest dropped


def test_a_retry_after_past_two_minutes_is_not_waited_for(fake) -> None:
    # the openai client does not retry when the server asks for more than two minutes: an engine failure
    server = fake(lambda index, body: (429, error_body("quota", 429), {"Retry-After": "600"}))
    with OpenAIEngine(model="m", base_urls=[server.url], max_retries=3) as engine:
        [completion] = engine.generate([GenerationRequest("p")])
    assert completion.finish_reason == "error" and not completion.rejected
    assert "gave up after 1 attempt" in completion.error and "HTTP 429: quota" in completion.error
    assert len(server.requests) == 1


def test_a_server_coming_back_is_waited_for_when_every_url_is_down(fake) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with OpenAIEngine(model="m", base_urls=[url], backoff_s=0.2, max_retries=4) as engine:
        # nothing listens on the port for 0.3 s, then the server (re)starts there
        starter = threading.Timer(0.3, lambda: fake(lambda index, body: OK, port=port))
        starter.start()
        try:
            [completion] = engine.generate([GenerationRequest("p")])
        finally:
            starter.join()
    assert completion.error is None and completion.text.endswith("\\boxed{1}.")
