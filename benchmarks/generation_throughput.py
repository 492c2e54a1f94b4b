"""Generation throughput: the generation pipeline's node against plain ``vllm.LLM.generate``, as one JSON object.

Both sides get the same prompts (GSM8K training problems in the few-shot code prompt, plain text), the same
sampling and the same token budget, on the same machine in the same run, one after the other; engine start-up
is excluded from both. The pipeline side is the real node (`generate_solutions`: prompt rendering, the
code-interpreter loop, the sandbox, chunked persistence through the catalog dataset).

- code_free: stop at ``<llm-code>`` too, so no code runs; the goal is >= 90% of the raw engine's tokens/s.
- with_code: the normal loop (blocks executed in the sandbox, outputs fed back); reported as is.

    .venv/bin/python benchmarks/generation_throughput.py [--model data/06_models/teacher] [--problems 16]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from openmath_kedro.code_solutions.nodes import MASKED_COLUMNS, generate_solutions
from openmath_kedro.datasets import GenerationChunksDataset, JSONLinesDataset, ModelDirectory
from openmath_kedro.prompts import load_prompt
from openmath_kedro.run_resources import close_shared_resources, shared_engine


def raw_vllm(*, model: str, prompts: list[str], max_tokens: int, stop: list[str], engine: dict) -> dict:
    from vllm import LLM, SamplingParams

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    llm = LLM(model=model, dtype=engine["dtype"], max_model_len=engine["max_model_len"], seed=0,
              enforce_eager=True, enable_prefix_caching=True)  # fmt: skip
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=max_tokens, stop=stop or None)
    started = time.perf_counter()
    outputs = llm.generate(prompts, sampling, use_tqdm=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    del llm
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}


def pipeline_node(*, problems: pd.DataFrame, checkpoint: ModelDirectory, params: dict, folder: Path) -> dict:
    engine_settings = {**params["engine"], "model": str(checkpoint.path)}
    shared_engine(engine_settings).start()  # start-up excluded, as for the raw engine
    started = time.perf_counter()
    chunks = generate_solutions(problems, pd.DataFrame(columns=MASKED_COLUMNS), checkpoint, {}, params)
    GenerationChunksDataset(path=str(folder)).save(chunks)
    seconds = time.perf_counter() - started
    table = pd.concat([load() for load in GenerationChunksDataset(path=str(folder)).load().values()])
    close_shared_resources()
    tokens = int(table["tokens_out"].sum())
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "samples": len(table),
        "code_calls": int(table["num_code_calls"].sum()),
        "finish_reasons": table["finish_reason"].value_counts().to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/06_models/teacher")
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    arguments = parser.parse_args()

    checkpoint = ModelDirectory(path=Path(arguments.model))
    problems = (
        JSONLinesDataset(filepath="data/03_primary/problems/gsm8k/train.jsonl")
        .load()
        .head(arguments.problems)
    )
    engine = {"kind": "vllm", "dtype": "float32", "max_model_len": 3072, "seed": 0}
    base = {
        "engine": engine,
        "num_samples": 1,
        "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": arguments.max_tokens, "stop": []},
        "use_chat_template": False,
        "interpreter": {
            "max_code_rounds": 3,
            "max_generated_tokens": arguments.max_tokens,
            "error_policy": "stop",
        },
        "chunk_size": 4,  # small chunks (the unit of resume) ...
        "batch_size": 256,  # ... generated together, so the engine sees every prompt at once, as the raw side
        "benchmarks": {"gsm8k": {"prompt": "code_fewshot", "examples": "gsm8k"}},
    }
    prompt = load_prompt("code_fewshot", examples="gsm8k")
    prompts = [prompt.render(problem=text) for text in problems["problem"]]
    # code-free: no block can open, so both sides make one engine call per sample with the same budget
    code_free = {**base, "sampling": {**base["sampling"], "stop": ["<llm-code>"]},
                 "interpreter": {**base["interpreter"], "max_code_rounds": 0}}  # fmt: skip

    with tempfile.TemporaryDirectory() as scratch:
        raw = raw_vllm(model=str(checkpoint.path), prompts=prompts, max_tokens=arguments.max_tokens,
                       stop=["<llm-code>", "</llm-code>", "<llm-code-output>"], engine=engine)  # fmt: skip
        ours = pipeline_node(
            problems=problems, checkpoint=checkpoint, params=code_free, folder=Path(scratch) / "a"
        )
        with_code = pipeline_node(
            problems=problems, checkpoint=checkpoint, params=base, folder=Path(scratch) / "b"
        )
    ratio = ours["tokens_per_s"] / raw["tokens_per_s"]
    print(
        json.dumps(
            {
                "workload": {
                    "problems": arguments.problems,
                    "max_tokens": arguments.max_tokens,
                    "model": arguments.model,
                    "dtype": engine["dtype"],
                    "cpu_count": os.cpu_count(),
                },  # fmt: skip
                "raw_vllm_generate": raw,
                "pipeline_code_free": ours,
                "pipeline_with_code": with_code,
                "code_free_ratio": round(ratio, 3),
                "goal_90_percent": ratio >= 0.9,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
