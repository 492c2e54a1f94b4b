"""Any OpenAI-compatible server (vLLM's OpenAI server, llama.cpp server, hosted APIs) over plain HTTP/JSON.

Requests go to several base URLs at once (least in-flight first, round-robin among equals) from a bounded
thread pool. Transient failures (408, 409, 429, 5xx, timeouts, dropped connections) are retried with
exponential backoff and jitter, waiting at least what a ``Retry-After`` header asks (up to a minute); a request
still failing after ``max_retries`` becomes an error completion (the engine failed it: a later run may succeed).
Failures that hold for every request stop ``generate`` at once with an EngineError: no base URL reachable
(naming every URL tried), a refused API key (401, 403), a model or route the server does not know (404).
Other 4xx answers (e.g. context length exceeded) are about the request itself: a ``rejected`` error
completion, not retried.

The retries are ours, not the ``openai`` client's, because they move between base URLs: a retry goes to the
least-loaded URL that is up, and a URL that refuses connections is skipped without waiting out a backoff.
"""

from __future__ import annotations

import datetime
import email.utils
import itertools
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx

from .base import Completion, EngineError, GenerationRequest

_RETRY_AFTER_CAP_S = 60.0
_TRANSIENT_STATUSES = (408, 409, 429)  # request timeout, conflict, rate limit; and every 5xx
_DOWN_S = 10.0  # how long an endpoint that refused a connection is avoided while others are up


@dataclass
class _Endpoint:
    url: str
    in_flight: int = 0
    down_until: float = 0.0


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one HTTP attempt: a completion, or a retryable failure."""

    completion: Completion | None = None
    failure: str | None = None
    unreachable: bool = False  # no connection could be made at all
    retry_after_s: float | None = None


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
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._endpoints = [_Endpoint(url) for url in self.base_urls]
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._fatal: EngineError | None = None  # set when a request found every URL unreachable
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            limits=httpx.Limits(
                max_connections=max_concurrency * 2, max_keepalive_connections=max_concurrency
            ),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._started = False  # start() found a base URL serving the model

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Check before any work that some base URL answers and serves ``model``; EngineError otherwise.

        Asks each URL's ``GET /models`` once (a few seconds at most): a server that is down, a wrong URL or
        a model the servers do not serve is reported here, naming what was tried and what is served.
        """
        if self._started:
            return
        problems, served = [], set()
        for url in self.base_urls:
            try:
                response = self._client.get(f"{url}/models", timeout=min(10.0, self.timeout_s))
            except httpx.HTTPError as error:
                problems.append(f"{url}: {type(error).__name__}: {error}")
                continue
            if response.status_code != 200:
                problems.append(f"{url}: HTTP {response.status_code} {_error_message(response)}")
                continue
            try:
                models = {str(entry.get("id")) for entry in response.json().get("data", [])}
            except (ValueError, AttributeError):
                models = set()  # a server without a model list: it answered, take it as serving the model
            if models and self.model not in models:
                problems.append(f"{url}: serves {sorted(models)}, not {self.model!r}")
                continue
            served.add(url)
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
        self._client.close()

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
            # one request proved no server reachable (or the caller interrupted): drop the queued rest
            self._fatal = self._fatal or EngineError("generation interrupted")
            for future in futures:
                future.cancel()
            raise

    def _complete(self, request: GenerationRequest) -> Completion:
        body = self._body(request)
        tried: list[str] = []
        reached = False  # some server answered this request at the HTTP level
        failure = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if self._fatal is not None:
                raise self._fatal  # another request already proved no server reachable
            endpoint = self._acquire()
            try:
                outcome = self._attempt(endpoint, body)
            finally:
                self._release(endpoint, down=False)
            if outcome.completion is not None:
                return outcome.completion
            failure = f"{endpoint.url}: {outcome.failure}"
            if endpoint.url not in tried:
                tried.append(endpoint.url)
            if outcome.unreachable:
                self._release(endpoint, down=True)
            else:
                reached = True
            if attempt == self.max_retries:
                break
            if outcome.unreachable and self._any_up():
                continue  # fail over to a live endpoint at once; nothing to wait for
            time.sleep(self._delay(attempt, outcome.retry_after_s))
        if not reached:
            # URLs other requests found down count too: this one skipped them for that reason
            tried += [url for url in self._down_urls() if url not in tried]
            self._fatal = self._fatal or EngineError(
                f"no OpenAI-compatible server reachable after {_attempts(self.max_retries + 1)}; "
                f"tried {', '.join(tried)} (last error: {failure})"
            )
            raise self._fatal
        return Completion(
            text="",
            finish_reason="error",
            error=f"gave up after {_attempts(self.max_retries + 1)}: {failure}",
        )

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

    def _attempt(self, endpoint: _Endpoint, body: dict[str, Any]) -> _Attempt:
        path = "/chat/completions" if self.mode == "chat" else "/completions"
        try:
            response = self._client.post(endpoint.url + path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            return _Attempt(failure=f"cannot connect ({type(error).__name__}: {error})", unreachable=True)
        except httpx.TransportError as error:  # read/write timeouts, dropped connections
            return _Attempt(failure=f"{type(error).__name__}: {error}")
        status = response.status_code
        if status == 200:
            try:
                return _Attempt(completion=self._parse(response.json(), body.get("stop", ())))
            except (ValueError, KeyError, IndexError, TypeError) as error:
                return _Attempt(failure=f"malformed answer ({error}): {response.text[:200]}")
        message = f"HTTP {status}: {_error_message(response)}"
        if status in (401, 403):  # the key is wrong for every request: stop the run, not each sample
            self._fatal = self._fatal or EngineError(
                f"{endpoint.url} refused the API key ({message}); set engine.credentials to an entry of "
                "conf/local/credentials.yml with the right api_key (or $OPENAI_API_KEY)"
            )
            raise self._fatal
        if status == 404:  # the same for every request: a model the server does not serve, or a wrong URL
            self._fatal = self._fatal or EngineError(
                f"{endpoint.url} does not serve model {self.model!r} ({message}): check engine.model and the "
                f"base URL (it usually ends in /v1; GET {endpoint.url}/models lists the served models)"
            )
            raise self._fatal
        if status in _TRANSIENT_STATUSES or status >= 500:
            return _Attempt(failure=message, retry_after_s=_retry_after(response))
        # any other answer will not change on retry: it belongs to this request only
        return _Attempt(
            completion=Completion(
                text="", finish_reason="error", error=f"{endpoint.url}: {message}", rejected=True
            )
        )

    def _parse(self, answer: dict[str, Any], stop: Sequence[str]) -> Completion:
        choice = answer["choices"][0]
        text = choice["message"]["content"] if self.mode == "chat" else choice["text"]
        text = text or ""
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        # vLLM's server says which stop string matched (an int is a stop token id); others do not
        stop_reason = choice.get("stop_reason")
        stop_reason = stop_reason if isinstance(stop_reason, str) and finish == "stop" else None
        if stop_reason and stop_reason in stop and text.endswith(stop_reason):
            text = text[: -len(stop_reason)]  # a server that keeps the stop string: our contract excludes it
        usage = answer.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=finish,
            stop_reason=stop_reason,
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
        )

    # ------------------------------------------------------------------ endpoints and backoff

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

    def _release(self, endpoint: _Endpoint, *, down: bool) -> None:
        with self._lock:
            if down:
                endpoint.down_until = time.monotonic() + _DOWN_S
            else:
                endpoint.in_flight -= 1

    def _down_urls(self) -> list[str]:
        with self._lock:
            now = time.monotonic()
            return [endpoint.url for endpoint in self._endpoints if endpoint.down_until > now]

    def _any_up(self) -> bool:
        with self._lock:
            now = time.monotonic()
            return any(endpoint.down_until <= now for endpoint in self._endpoints)

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential backoff with equal jitter: between half and all of backoff_s * 2**attempt."""
        ceiling = self.backoff_s * 2**attempt
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, _RETRY_AFTER_CAP_S))
        return delay


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-style (or vLLM-style) error body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return response.text[:300]


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    headers = response.headers
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return max(0.0, (moment - datetime.datetime.now(datetime.UTC)).total_seconds())
