"""One problem through the code-interpreter loop, run in an inference process and watched live by the page.

The loop is the pipelines' own: ``openmath_kedro.code_interpreter.solve_with_code`` with the engine of
``runs.resources.shared_engine`` (one model in memory at a time; asking for another closes the previous one) and
the bubblewrap sandbox pool of ``runs.resources.shared_sandbox``. Two thin wrappers only watch it:

- ``StreamingEngine`` asks the engine for at most ``tokens_per_update`` tokens per call and continues the text
  until the request's own stop strings or token budget end it, so the page shows the text as it grows. Stop
  strings are also searched across chunk boundaries. Continuing from text re-tokenizes it, as the loop itself
  does after every code block; ``tokens_per_update = 0`` sends each request whole (exactly the pipelines'
  calls; the page then updates once per code round).
- ``WatchedRunner`` records each code block and the sandbox output that the loop feeds back.

Jobs run in a separate inference process (``JobBoard``), which sends every change of its job back to the app;
vLLM runs inside that process (on CPU the engine runs its engine core and worker in-process, as in the pipelines);
the model, its settings and the sampling are the configured ones.
the page polls ``Job.snapshot()`` (dcc.Interval). A model that cannot start, a sandbox that fails, anything the
job raises, even the inference process dying, ends the job with its message; the app keeps serving.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from openmath_kedro.code_interpreter import InterpreterSettings, SolutionTask, solve_with_code
from openmath_kedro.engines.base import Completion, GenerationRequest, SamplingParams
from openmath_kedro.prompts import CODE_END, format_code_output


@dataclass
class Job:
    """A run of one problem; every field is read by the polling page (under ``lock``)."""

    id: str
    description: str
    problem: str = ""
    gold: str | None = None
    status: str = "queued"  # queued, starting engine, generating, running code, grading, done, failed
    text: str = ""  # the solution so far, as the loop builds it
    events: list[str] = field(default_factory=list)
    error: str | None = None
    result: dict[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)

    def append(self, text: str) -> None:
        with self.lock:
            self.text += text

    def log(self, event: str) -> None:
        with self.lock:
            self.events.append(f"{time.monotonic() - self.started:6.1f} s  {event}")

    @property
    def done(self) -> bool:
        return self.status in ("done", "failed")

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "description": self.description,
                "problem": self.problem,
                "gold": self.gold,
                "status": self.status,
                "text": self.text,
                "events": list(self.events),
                "error": self.error,
                "result": dict(self.result) if self.result else None,
                "seconds": round((self.finished or time.monotonic()) - self.started, 1),
                "done": self.done,
            }


class StreamingEngine:
    """An engine that answers each request in chunks of ``tokens_per_update`` tokens, reporting each chunk."""

    def __init__(self, engine: Any, job: Job, *, tokens_per_update: int = 16) -> None:
        self.engine = engine
        self.job = job
        self.tokens_per_update = tokens_per_update
        self.name = getattr(engine, "name", "engine")
        self.model = getattr(engine, "model", "")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.job.update(status="generating")
        if self.tokens_per_update <= 0:
            completions = self.engine.generate(list(requests))
            for completion in completions:
                self._report(completion.text, completion)
            return completions
        return [self._stream(request) for request in requests]

    def _stream(self, request: GenerationRequest) -> Completion:
        sampling = request.sampling
        text, shown, tokens_in, tokens_out = "", 0, 0, 0
        while True:
            budget = sampling.max_tokens - tokens_out
            chunk_sampling = replace(sampling, max_tokens=max(1, min(self.tokens_per_update, budget)))
            (completion,) = self.engine.generate([GenerationRequest(request.prompt + text, chunk_sampling)])
            tokens_in = tokens_in or completion.tokens_in
            tokens_out += completion.tokens_out
            if completion.finish_reason == "error":
                self._show(text[shown:])
                return replace(completion, text=text, tokens_in=tokens_in, tokens_out=tokens_out)
            # a stop string split across two chunks: the engine saw neither half as a stop
            stop_at, stop = _first_stop(text, completion.text, sampling.stop)
            if stop is not None:
                text = (text + completion.text)[:stop_at]
                return self._finish(text, shown, "stop", stop, tokens_in, tokens_out)
            text += completion.text
            if (
                completion.finish_reason == "stop"
            ):  # a stop string (excluded from the text) or end of sequence
                return self._finish(text, shown, "stop", completion.stop_reason, tokens_in, tokens_out)
            if tokens_out >= sampling.max_tokens or completion.tokens_out == 0:
                return self._finish(text, shown, "length", None, tokens_in, tokens_out)
            # hold back a tail that may be the start of a stop string: it is not text if the stop completes
            safe = len(text) - _pending_stop(text, sampling.stop)
            self._show(text[shown:safe])
            shown = max(shown, safe)

    def _finish(
        self, text: str, shown: int, reason: str, stop: str | None, tokens_in: int, tokens_out: int
    ) -> Completion:
        self._show(text[shown:])
        if stop == CODE_END:
            self.job.append(CODE_END)  # as the loop appends it
        return Completion(
            text=text,
            finish_reason=reason,
            stop_reason=stop,
            tokens_in=tokens_in,
            tokens_out=tokens_out,  # type: ignore[arg-type]
        )

    def _show(self, text: str) -> None:
        if text:
            self.job.append(text)

    def _report(self, text: str, whole: Completion | None) -> None:
        self._show(text)
        if whole is not None and whole.stop_reason == CODE_END:
            self.job.append(CODE_END)

    def close(self) -> None:  # the shared engine stays up for the next run; runs.resources closes it
        pass


def _pending_stop(text: str, stops: Sequence[str]) -> int:
    """The length of the longest end of ``text`` that begins a stop string (0 when none does)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[-size:]):
                longest = size
                break
    return longest


def _first_stop(before: str, new: str, stops: Sequence[str]) -> tuple[int, str | None]:
    """The earliest stop string that ends inside ``new`` (it may start in ``before``): its position, itself."""
    if not stops:
        return -1, None
    window_start = max(0, len(before) - max(len(s) for s in stops))
    combined = before[window_start:] + new
    best: tuple[int, str | None] = (-1, None)
    for stop in stops:
        index = combined.find(stop)
        while index != -1 and window_start + index + len(stop) <= len(before):
            index = combined.find(stop, index + 1)  # wholly in the old text: the engine would have stopped
        if index != -1 and (best[1] is None or window_start + index < best[0]):
            best = (window_start + index, stop)
    return best


class WatchedRunner:
    """The sandbox pool, with each executed block and its output reported to the job."""

    def __init__(self, runner: Any, job: Job) -> None:
        self.runner = runner
        self.job = job

    def session(self) -> Any:
        return self.runner.session()

    def execute_many(
        self, codes: Sequence[str], *, sessions: Sequence[Any], timeout: float, max_output: int
    ) -> Any:
        self.job.update(status="running code")
        self.job.log(
            f"running code block ({len(codes[0].splitlines()) if codes else 0} lines) in the sandbox"
        )
        results = self.runner.execute_many(codes, sessions=sessions, timeout=timeout, max_output=max_output)
        for result in results:
            self.job.append(format_code_output(result.output))
            self.job.log("sandbox output fed back" + ("" if result.ok else " (the code failed)"))
        self.job.update(status="generating")
        return results


@dataclass(frozen=True)
class InferenceRequest:
    problem: str
    gold: str | None
    benchmark: str
    engine_settings: dict[str, Any]
    engine_label: str
    prompt: str
    examples: str | None
    use_chat_template: bool
    solution_prefix: str
    sampling: SamplingParams
    interpreter: InterpreterSettings
    tokens_per_update: int = 16


class RemoteJob:
    """The worker process's side of a Job: every change is sent to the app, which applies it to its Job."""

    def __init__(self, job_id: str, events: Any) -> None:
        self.id = job_id
        self._events = events

    def update(self, **changes: Any) -> None:
        changes.pop("finished", None)  # the app stamps the end with its own clock
        self._events.put((self.id, "update", changes))

    def append(self, text: str) -> None:
        self._events.put((self.id, "append", text))

    def log(self, event: str) -> None:
        self._events.put((self.id, "log", event))


def worker_main(requests: Any, events: Any) -> None:
    """The inference process: runs jobs one after the other; the engine stays up between them."""
    import logging
    import multiprocessing
    import queue

    from openmath_kedro.runs.resources import close_shared_resources

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent = multiprocessing.parent_process()
    try:
        while True:
            try:
                item = requests.get(timeout=2.0)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    break  # the app is gone (killed without closing us): free the model
                continue
            if item is None:
                break
            job_id, request = item
            job = RemoteJob(job_id, events)
            try:
                run_job(job, request)  # type: ignore[arg-type]
            except BaseException as error:  # whatever happens, the page gets the message
                job.log("".join(traceback.format_exception_only(type(error), error)).strip())
                job.update(status="failed", error=f"{type(error).__name__}: {error}")
    finally:
        close_shared_resources()


class JobBoard:
    """Jobs by id, run one at a time in a separate inference process.

    The engine (vLLM, with its own engine-core process), the sandbox pool and the loop live in that process, not
    in the app's: starting a model is CPU- and GIL-heavy for a minute, and a model that crashes or cannot start
    must not take the web server with it. The process is started on the first run and kept (so is the engine,
    until a run asks for another model); if it dies, its running job fails with the exit code and the next run
    starts a new one.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._process: Any = None
        self._requests: Any = None
        self._events: Any = None
        self._listener: threading.Thread | None = None

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def start(self, request: InferenceRequest) -> Job:
        job = Job(
            id=uuid.uuid4().hex[:12],
            description=f"{request.engine_label}, prompt {request.prompt}",
            problem=request.problem,
            gold=request.gold,
        )
        with self._lock:
            self._jobs[job.id] = job
            self._ensure_worker()
            self._requests.put((job.id, request))
        job.log("sent to the inference process")
        return job

    def _ensure_worker(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        import multiprocessing

        context = multiprocessing.get_context(
            "spawn"
        )  # a clean interpreter: no Flask threads, no forked locks
        self._requests, self._events = context.Queue(), context.Queue()
        self._process = context.Process(
            # not a daemon: vLLM starts its own engine-core process from it; close() (at exit) stops it
            target=worker_main,
            args=(self._requests, self._events),
            name="inspector-inference",
            daemon=False,
        )
        self._process.start()
        self._listener = threading.Thread(
            target=self._listen, args=(self._process, self._events), name="inspector-events", daemon=True
        )
        self._listener.start()

    def _listen(self, process: Any, events: Any) -> None:
        import queue

        while True:
            try:
                job_id, kind, payload = events.get(timeout=1.0)
            except queue.Empty:
                if process.is_alive():
                    continue
                self._fail_running(f"the inference process ended (exit code {process.exitcode})")
                return
            except (EOFError, OSError):
                return
            job = self.get(job_id)
            if job is None:
                continue
            if kind == "append":
                job.append(payload)
            elif kind == "log":
                job.log(payload)
            else:
                if payload.get("status") in ("done", "failed"):
                    payload = {**payload, "finished": time.monotonic()}
                job.update(**payload)

    def _fail_running(self, message: str) -> None:
        with self._lock:
            running = [job for job in self._jobs.values() if not job.done]
        for job in running:
            job.log(message)
            job.update(status="failed", error=message, finished=time.monotonic())

    def close(self, timeout: float = 20) -> None:
        """Stop the inference process (its engine and sandbox pool close first)."""
        process = self._process
        if process is None:
            return
        if process.is_alive():
            self._requests.put(None)
            process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(5)
        if process.is_alive():
            process.kill()
        self._process = None


def render_prompt(request: InferenceRequest) -> str:
    from openmath_kedro.prompts import load_prompt

    takes_examples = bool(load_prompt(request.prompt).example)
    template = load_prompt(request.prompt, examples=(request.examples or None) if takes_examples else None)
    chat_template = None
    model_dir = request.engine_settings.get("model")
    if request.use_chat_template and request.engine_settings.get("kind") == "vllm" and model_dir:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)

        def chat_template(messages: list[dict[str, str]]) -> str:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    return template.render(problem=request.problem, chat_template=chat_template)


def run_job(job: Job, request: InferenceRequest) -> None:
    from openmath_kedro.runs.resources import shared_engine, shared_sandbox

    prompt = render_prompt(request)
    job.log(f"prompt rendered ({len(prompt)} characters, template {request.prompt})")
    job.update(status="starting engine", text=request.solution_prefix)
    job.log(
        f"starting the engine: {request.engine_label} (the first run of a model starts it: vLLM takes 15-60 s on 2 cores)"
    )
    engine = shared_engine(request.engine_settings)
    if callable(start := getattr(engine, "start", None)):
        start()
    job.log("engine ready")
    sandbox = shared_sandbox(
        timeout_s=request.interpreter.code_timeout_s, max_output_chars=request.interpreter.max_output_chars
    )
    task = SolutionTask(
        key="inspect", prompt=prompt, sampling=request.sampling, prefix=request.solution_prefix
    )
    job.update(status="generating")
    results = solve_with_code(
        [task],
        engine=StreamingEngine(engine, job, tokens_per_update=request.tokens_per_update),
        runner=WatchedRunner(sandbox, job),
        settings=request.interpreter,
    )
    result = results["inspect"]
    job.update(status="grading", text=result.generation)
    job.log(
        f"finished: {result.finish_reason}, {result.num_code_calls} code block(s), {result.tokens_out} tokens"
    )
    from openmath_kedro.answers import conventions_for, extract_answer, grade

    conventions = conventions_for(request.benchmark or "")  # the model-output default for a typed problem
    predicted = extract_answer(result.generation, conventions=conventions)
    verdict = grade(predicted, request.gold, conventions=conventions).to_dict() if request.gold else None
    job.update(
        status="done",
        finished=time.monotonic(),
        result={
            "predicted_answer": predicted,
            "verdict": verdict,
            "finish_reason": result.finish_reason,
            "num_code_calls": result.num_code_calls,
            "code_errors": result.code_errors,
            "tokens_in": result.tokens_in,
            "tokens_out": result.tokens_out,
            "error": result.error,
        },
    )
