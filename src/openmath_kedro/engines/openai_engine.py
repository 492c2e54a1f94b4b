"""Any OpenAI-compatible server (vLLM's OpenAI server, llama.cpp server, hosted APIs) through the ``openai`` client.

The client sends each request and retries it on the same server: 408, 409, 429, 5xx, timeouts and dropped
connections, ``max_retries`` times with exponential backoff, waiting what ``Retry-After`` asks (up to two
minutes). Ours is what a single client cannot know:

- Several base URLs share the load: each request goes to the least-loaded URL that is up (round-robin among
  equals), from a thread pool of ``max_concurrency``. A URL that refuses connections is avoided for a while and
  the request moves to another one at once, without a backoff (see ``_FailoverTransport``).
- What a failure means for the run. Failures that hold for every request stop ``generate`` with an EngineError:
  no base URL reachable (naming every URL tried), a refused API key (401, 403), a model or route the server does
  not know (404). Other 4xx answers (e.g. context length exceeded) are about the request itself: a ``rejected``
  error completion. A request still failing after the client's retries is an error completion that is not
  rejected (the engine failed it: a later run may succeed).

``openai`` is imported when an engine is made: importing it takes a second or more, and every Kedro command
imports this package (through the parameter models).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx2

from .base import Completion, EngineError, GenerationRequest

if TYPE_CHECKING:
    import openai

_DOWN_S = 10.0  # how long an endpoint that refused a connection is avoided while others are up
# refused, or not accepted within the connect timeout
_CANNOT_CONNECT = (httpx2.ConnectError, httpx2.ConnectTimeout)


class _FailoverTransport(httpx2.HTTPTransport):
    """Raises a connection that cannot be made as an ``openai.APIConnectionError`` instead of httpx2's error.

    The client retries httpx2's errors on its one base URL after a backoff, but passes its own errors on at once:
    the engine can then send the request to another URL without waiting for a server that is down.
    """

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return super().handle_request(request)
        except _CANNOT_CONNECT as error:
            import openai

            message = f"cannot connect ({type(error).__name__}: {error})"
            raise openai.APIConnectionError(message=message, request=request) from error


class _Unreachable(Exception):
    """No connection could be made to an endpoint's URL."""


@dataclass
class _Endpoint:
    url: str
    client: openai.OpenAI
    in_flight: int = 0
    down_until: float = 0.0


class OpenAIEngine:
    """Completions or chat completions from OpenAI-compatible servers; ``generate`` is synchronous."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_urls: list[str],
        api_key: str | None = None,
        mode: Literal["completions", "chat"] = "completions",
        max_concurrency: int = 16,
        max_retries: int = 5,
        timeout_s: float = 120,
        backoff_s: float = 1.0,
    ) -> None:
        """``max_retries`` bounds the client's retries on one server and the moves between base URLs that
        refuse connections; ``backoff_s`` is the first wait (doubling) when every base URL refuses them."""
        import openai

        if isinstance(base_urls, str):
            base_urls = [base_urls]
        if not base_urls:
            raise EngineError("OpenAIEngine needs at least one base URL")
        if mode not in ("completions", "chat"):
            raise EngineError(f"unknown mode {mode!r}: expected 'completions' or 'chat'")
        if max_concurrency < 1:
            raise EngineError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.model = model
        self.base_urls = [url.rstrip("/") for url in base_urls]
        self.mode = mode
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        # one connection pool for every base URL; with_options shares it
        self._http = openai.DefaultHttpxClient(
            transport=_FailoverTransport(
                limits=httpx2.Limits(
                    max_connections=max_concurrency * 2, max_keepalive_connections=max_concurrency
                )
            )
        )
        client = openai.OpenAI(
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            base_url=self.base_urls[0],
            max_retries=max_retries,
            timeout=openai.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            http_client=self._http,
        )
        self._endpoints = [_Endpoint(url, client.with_options(base_url=url)) for url in self.base_urls]
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._fatal: EngineError | None = None  # set when a failure holds for every request
        self._pool: ThreadPoolExecutor | None = None
        self._started = False  # start() found a base URL serving the model

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Check before any work that some base URL answers and serves ``model``; EngineError otherwise.

        Asks each URL's ``GET /models`` once (a few seconds at most): a server that is down, a wrong URL or
        a model the servers do not serve is reported here, naming what was tried and what is served.
        """
        import openai

        if self._started:
            return
        problems, served = [], set()
        for endpoint in self._endpoints:
            probe = endpoint.client.with_options(max_retries=0, timeout=min(10.0, self.timeout_s))
            try:
                models = {str(entry.id) for entry in probe.models.list()}
            except openai.APIStatusError as error:
                problems.append(f"{endpoint.url}: {_describe(error)}")
                continue
            except openai.APIConnectionError as error:
                problems.append(f"{endpoint.url}: {error}")
                continue
            except (openai.APIResponseValidationError, AttributeError, TypeError, ValueError):
                models = set()  # a server without a model list: it answered, take it as serving the model
            if models and self.model not in models:
                problems.append(f"{endpoint.url}: serves {sorted(models)}, not {self.model!r}")
                continue
            served.add(endpoint.url)
        if not served:
            raise EngineError(
                f"no OpenAI-compatible endpoint answers for model {self.model!r}: " + "; ".join(problems)
            )
        self._started = True

    def close(self) -> None:
        """Stop the worker threads and close the HTTP connections. Safe to call twice."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._http.close()

    def __enter__(self) -> OpenAIEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order."""
        if not requests:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="openai-engine"
            )
        self._fatal = None
        futures = [self._pool.submit(self._complete, request) for request in requests]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # one request proved that no request can succeed (or the caller interrupted): drop the queued rest
            self._fatal = self._fatal or EngineError("generation interrupted")
            for future in futures:
                future.cancel()
            raise

    def _complete(self, request: GenerationRequest) -> Completion:
        """Send to an endpoint that is up, moving to another one while endpoints refuse connections."""
        body = self._body(request)
        tried: list[str] = []
        failure = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if self._fatal is not None:
                raise self._fatal  # another request already proved that none can succeed
            endpoint = self._acquire()
            try:
                return self._attempt(endpoint, body)
            except _Unreachable as error:
                failure = f"{endpoint.url}: {error}"
                if endpoint.url not in tried:
                    tried.append(endpoint.url)
                self._mark_down(endpoint)
            finally:
                self._release(endpoint)
            if attempt < self.max_retries and not self._any_up():
                # every URL refuses connections: give a restarting server time to come back
                time.sleep(self.backoff_s * 2**attempt * random.uniform(0.5, 1.0))
        # URLs other requests found down count too: this one skipped them for that reason
        tried += [url for url in self._down_urls() if url not in tried]
        self._fatal = self._fatal or EngineError(
            f"no OpenAI-compatible server reachable after {_attempts(self.max_retries + 1)}; "
            f"tried {', '.join(tried)} (last error: {failure})"
        )
        raise self._fatal

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if self.mode == "chat":
            body["messages"] = [{"role": "user", "content": request.prompt}]
        else:
            body["prompt"] = request.prompt
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return body

    def _attempt(self, endpoint: _Endpoint, body: dict[str, Any]) -> Completion:
        """One request on one endpoint, with the client's retries; ``_Unreachable`` when it cannot connect."""
        import openai

        client = endpoint.client
        try:
            if self.mode == "chat":
                answer: Any = client.chat.completions.create(**body)
            else:
                answer = client.completions.create(**body)
        except openai.APIStatusError as error:
            return self._refused(endpoint.url, error)
        except openai.APIConnectionError as error:
            if isinstance(error.__cause__, _CANNOT_CONNECT):  # raised by _FailoverTransport, not retried
                raise _Unreachable(str(error)) from error
            # timeouts and dropped connections, retried by the client
            cause = f" ({type(error.__cause__).__name__})" if error.__cause__ else ""
            failure = f"{endpoint.url}: {type(error).__name__}: {error}{cause}"
            return Completion(
                text="", finish_reason="error", error=f"gave up after {_tries(error)}: {failure}"
            )
        try:
            return self._parse(answer, body.get("stop", ()))
        except (AttributeError, IndexError, TypeError, ValueError) as error:
            failure = f"{endpoint.url}: malformed answer ({error!r})"
            return Completion(text="", finish_reason="error", error=failure)

    def _refused(self, url: str, error: openai.APIStatusError) -> Completion:
        """An HTTP error answer: stop the run if it holds for every request, else this request's completion."""
        import openai

        message = _describe(error)
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            self._fatal = self._fatal or EngineError(
                f"{url} refused the API key ({message}); set engine.credentials to an entry of "
                "conf/local/credentials.yml with the right api_key (or $OPENAI_API_KEY)"
            )
            raise self._fatal
        if isinstance(error, openai.NotFoundError):  # a model the server does not serve, or a wrong URL
            self._fatal = self._fatal or EngineError(
                f"{url} does not serve model {self.model!r} ({message}): check engine.model and the "
                f"base URL (it usually ends in /v1; GET {url}/models lists the served models)"
            )
            raise self._fatal
        transient = openai.RateLimitError | openai.ConflictError | openai.InternalServerError
        if isinstance(error, transient) or error.status_code == 408:  # what the client retries
            return Completion(
                text="", finish_reason="error", error=f"gave up after {_tries(error)}: {url}: {message}"
            )
        # any other answer will not change on retry: it belongs to this request only
        return Completion(text="", finish_reason="error", error=f"{url}: {message}", rejected=True)

    def _parse(self, answer: Any, stop: Sequence[str]) -> Completion:
        choice = answer.choices[0]
        text = (choice.message.content if self.mode == "chat" else choice.text) or ""
        finish = "length" if choice.finish_reason == "length" else "stop"
        # vLLM's server says which stop string matched (an int is a stop token id); others do not
        stop_reason = getattr(choice, "stop_reason", None)
        stop_reason = stop_reason if isinstance(stop_reason, str) and finish == "stop" else None
        if stop_reason and stop_reason in stop and text.endswith(stop_reason):
            text = text[: -len(stop_reason)]  # a server that keeps the stop string: our contract excludes it
        usage = answer.usage
        return Completion(
            text=text,
            finish_reason=finish,
            stop_reason=stop_reason,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    # ------------------------------------------------------------------ endpoints

    def _acquire(self) -> _Endpoint:
        """The least-loaded endpoint that is up (round-robin among equals); if none is up, the soonest back."""
        with self._lock:
            now = time.monotonic()
            up = [endpoint for endpoint in self._endpoints if endpoint.down_until <= now]
            if up:
                start = next(self._turn) % len(up)
                rotated = up[start:] + up[:start]
                endpoint = min(rotated, key=lambda candidate: candidate.in_flight)
            else:
                endpoint = min(self._endpoints, key=lambda candidate: candidate.down_until)
            endpoint.in_flight += 1
            return endpoint

    def _release(self, endpoint: _Endpoint) -> None:
        with self._lock:
            endpoint.in_flight -= 1

    def _mark_down(self, endpoint: _Endpoint) -> None:
        with self._lock:
            endpoint.down_until = time.monotonic() + _DOWN_S

    def _down_urls(self) -> list[str]:
        with self._lock:
            now = time.monotonic()
            return [endpoint.url for endpoint in self._endpoints if endpoint.down_until > now]

    def _any_up(self) -> bool:
        with self._lock:
            now = time.monotonic()
            return any(endpoint.down_until <= now for endpoint in self._endpoints)


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _tries(error: openai.APIError) -> str:
    """How many times the client sent the request: it numbers its retries in a header of each one."""
    return _attempts(int(error.request.headers.get("x-stainless-retry-count", 0)) + 1)


def _describe(error: openai.APIStatusError) -> str:
    """``HTTP <status>: <message>`` from an OpenAI-style or vLLM-style error body (the client keeps its message)."""
    body = error.body
    if isinstance(body, dict) and body.get("message"):
        detail = str(body["message"])
    elif isinstance(body, str) and body:
        detail = body[:300]
    else:
        detail = error.response.text[:300]
    return f"HTTP {error.status_code}: {detail}"
