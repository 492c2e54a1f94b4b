"""Generation throughput: the code_solutions node against plain ``vllm.LLM.generate``, as one JSON object.

Both sides get the same prompts (GSM8K problems in the few-shot code prompt, plain text), the same sampling and
the same token budget, on the same machine in the same run, one after the other; engine start-up is excluded
from both. The pipeline side is the real node (`generate_solutions`: prompt rendering, the code-interpreter
loop, the sandbox, chunked persistence through the catalog dataset).

``--workload generation``: training problems sampled at temperature 0.7 with the generation settings.
``--workload evaluation``: test problems with the settings the evaluation pipeline derives for the base model's
greedy run (``solution_settings``: temperature 0, errors shown to the model, up to 6 code rounds).
``--dtype``: auto (bfloat16 on CPUs with AVX512-BF16/AMX, else float32), bfloat16 or float32, both sides.

- code_free: stop at ``<llm-code>`` too, so no code runs; the goal is >= 90% of the raw engine's tokens/s.
- with_code: the normal loop (blocks executed in the sandbox, outputs fed back); reported as is.

    .venv/bin/python benchmarks/generation_throughput.py [--model data/06_models/teacher] [--problems 16]
        [--workload generation|evaluation] [--dtype auto|bfloat16|float32]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from openmath_kedro.code_solutions.nodes import MASKED_COLUMNS, generate_solutions
from openmath_kedro.datasets import GenerationChunksDataset, JSONLinesDataset, ModelDirectory
from openmath_kedro.engines.vllm_engine import cpu_dtype
from openmath_kedro.params import GenerationParams
from openmath_kedro.pipelines.evaluation.nodes import solution_settings
from openmath_kedro.prompts import load_prompt
from openmath_kedro.runs.resources import close_shared_resources, shared_engine, shared_sandbox


def raw_vllm(
    *, model: str, prompts: list[str], max_tokens: int, stop: list[str], engine: dict, temperature: float
) -> dict:
    from vllm import LLM, SamplingParams

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    llm = LLM(model=model, dtype=engine["dtype"], max_model_len=engine["max_model_len"], seed=0,
              enforce_eager=True, enable_prefix_caching=True)  # fmt: skip
    top_p = 0.95 if temperature > 0 else 1.0
    sampling = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens, stop=stop or None)
    started = time.perf_counter()
    outputs = llm.generate(prompts, sampling, use_tqdm=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    del llm
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}


def pipeline_node(*, problems: pd.DataFrame, checkpoint: ModelDirectory, params: dict, folder: Path) -> dict:
    engine_settings = {**params["engine"], "model": str(checkpoint.path)}
    shared_engine(engine_settings).start()  # start-up excluded, as for the raw engine ...
    interpreter = params["interpreter"]  # ... and the sandbox pool's (its workers fork once per run)
    shared_sandbox(
        timeout_s=interpreter.get("code_timeout_s", 10.0),
        max_output_chars=interpreter.get("max_output_chars", 1000),
    )
    started = time.perf_counter()
    chunks = generate_solutions(
        problems,
        pd.DataFrame(columns=MASKED_COLUMNS),
        checkpoint,
        {},
        GenerationParams.model_validate(params),
    )
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


def evaluation_settings(*, engine: dict, max_tokens: int) -> dict:
    """What the evaluation pipeline generates with for the base model's greedy GSM8K run, made comparable:
    the same engine, token budget and batching as the raw side (no chat template: plain-text prompts)."""
    block = yaml.safe_load(Path("conf/base/parameters_evaluation.yml").read_text())["evaluation"]
    block["runs"]["greedy"]["sampling"]["max_tokens"] = max_tokens
    block["interpreter"]["max_generated_tokens"] = max_tokens
    block["models"]["base"]["use_chat_template"] = False
    block["benchmarks"]["gsm8k"]["max_problems"] = None
    block |= {"engine": engine, "chunk_size": 4, "batch_size": 256}
    return solution_settings(block, model="base", run="greedy", benchmark="gsm8k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/06_models/teacher")
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--workload", choices=["generation", "evaluation"], default="generation")
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float32"], default="auto")
    arguments = parser.parse_args()

    checkpoint = ModelDirectory(path=Path(arguments.model))
    split = "train" if arguments.workload == "generation" else "test"
    problems = (
        JSONLinesDataset(filepath=f"data/03_primary/problems/gsm8k/{split}.jsonl")
        .load()
        .head(arguments.problems)
    )
    dtype = cpu_dtype() if arguments.dtype == "auto" else arguments.dtype
    engine = {"kind": "vllm", "dtype": dtype, "max_model_len": 3072, "seed": 0}
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
    if arguments.workload == "evaluation":
        base = evaluation_settings(engine=engine, max_tokens=arguments.max_tokens)
    temperature = base["sampling"]["temperature"]
    prompt = load_prompt("code_fewshot", examples="gsm8k")
    prompts = [prompt.render(problem=text) for text in problems["problem"]]
    # code-free: no block can open, so both sides make one engine call per sample with the same budget
    code_free = {**base, "sampling": {**base["sampling"], "stop": ["<llm-code>"]},
                 "interpreter": {**base["interpreter"], "max_code_rounds": 0}}  # fmt: skip

    with tempfile.TemporaryDirectory() as scratch:
        raw = raw_vllm(model=str(checkpoint.path), prompts=prompts, max_tokens=arguments.max_tokens,
                       stop=["<llm-code>", "</llm-code>", "<llm-code-output>"], engine=engine,
                       temperature=temperature)  # fmt: skip
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
                    "workload": arguments.workload,
                    "temperature": temperature,
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
