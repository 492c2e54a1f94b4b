"""Finetuning throughput: the pipeline's train node against a plain TRL script, as one JSON object.

Both sides train the same student on the same synthetic SFT set with the same settings (completion-only loss,
batch, steps, checkpoints), each in its own fresh process so that peak memory is its own; wall time covers model
loading, training and checkpoint saving on both sides. Goal: the node within 5% of the plain script in
throughput and in peak memory.

    .venv/bin/python benchmarks/finetuning_throughput.py [--student data/06_models/student] [--examples 64]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "per_device_batch_size": 4,
    "learning_rate": 2e-5,
    "lr_scheduler": "cosine",
    "num_epochs": 1,
    "max_steps": None,
    "checkpoints_per_epoch": 2,
    "max_length": 512,
    # spelled out because TRL's SFTConfig defaults differ from ours (gradient checkpointing on, seed 42):
    # the comparison is only fair when both sides run the same settings
    "gradient_checkpointing": False,
    "seed": 0,
}


def synthetic_sft_set(count: int, seed: int = 0) -> list[dict[str, str]]:
    """Prompt/completion rows shaped like the SFT set: a word problem, a solution with one code block."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
        story = " ".join(
            rng.choice(["apples", "boxes", "each", "more", "than", "week", "sold"]) for _ in range(40)
        )
        rows.append(
            {
                "prompt": f"Question:\nProblem {index}: {story}. What is ({a} + {b}) * {c}?\n\nMy solution:\n",
                "completion": (
                    f"First add the two amounts, then multiply by {c}.\n<llm-code>\ntotal = ({a} + {b}) * {c}\n"
                    f"print(total)\n</llm-code>\n<llm-code-output>\n{(a + b) * c}\n</llm-code-output>\n"
                    f"So the result is $\\boxed{{{(a + b) * c}}}$."
                ),
            }
        )
    return rows


def run_pipeline_node(student: str, rows: list[dict], folder: str, queue) -> None:
    import polars as pl

    from openmath_kedro.datasets import ModelDirectory, TrainingCheckpointsDataset
    from openmath_kedro.params import FinetuningParams
    from openmath_kedro.pipelines.finetuning.nodes import train_student

    started = time.perf_counter()
    checkpoints = TrainingCheckpointsDataset(path=folder)
    trained, run = train_student(
        pl.DataFrame(rows),
        ModelDirectory(path=Path(student)),
        checkpoints.load(),
        FinetuningParams.model_validate(SETTINGS),
    )
    checkpoints.save(trained)
    seconds = time.perf_counter() - started
    queue.put({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "steps": run["total_steps"]})  # fmt: skip


def run_plain_trl(student: str, rows: list[dict], folder: str, queue) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from datasets import Dataset

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student, dtype="float32")
    steps_per_epoch = -(-len(rows) // SETTINGS["per_device_batch_size"])
    config = SFTConfig(
        output_dir=folder,
        completion_only_loss=True,
        max_length=SETTINGS["max_length"],
        per_device_train_batch_size=SETTINGS["per_device_batch_size"],
        learning_rate=SETTINGS["learning_rate"],
        lr_scheduler_type=SETTINGS["lr_scheduler"],
        num_train_epochs=SETTINGS["num_epochs"],
        max_steps=steps_per_epoch,
        save_strategy="steps",
        save_steps=steps_per_epoch // SETTINGS["checkpoints_per_epoch"],
        logging_steps=1,
        bf16=False,
        gradient_checkpointing=SETTINGS["gradient_checkpointing"],
        seed=SETTINGS["seed"],
        data_seed=SETTINGS["seed"],
        report_to=[],
        dataloader_pin_memory=False,
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
    )
    trainer.train()
    seconds = time.perf_counter() - started
    queue.put({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "steps": trainer.state.global_step})  # fmt: skip


def measure(target, student: str, rows: list[dict], tokens: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with tempfile.TemporaryDirectory() as folder:
        process = context.Process(target=target, args=(student, rows, folder, queue))
        process.start()
        result = queue.get()
        process.join()
    return {
        "seconds": round(result["seconds"], 2),
        "tokens_per_s": round(tokens / result["seconds"], 1),
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "steps": result["steps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default="data/06_models/student")
    parser.add_argument("--examples", type=int, default=64)
    arguments = parser.parse_args()

    from transformers import AutoTokenizer

    rows = synthetic_sft_set(arguments.examples)
    tokenizer = AutoTokenizer.from_pretrained(arguments.student)
    tokens = sum(len(tokenizer(row["prompt"] + row["completion"])["input_ids"]) for row in rows)
    plain = measure(run_plain_trl, arguments.student, rows, tokens)
    node = measure(run_pipeline_node, arguments.student, rows, tokens)
    ratio = node["tokens_per_s"] / plain["tokens_per_s"]
    memory_ratio = node["peak_rss_mb"] / plain["peak_rss_mb"]
    print(
        json.dumps(
            {
                "workload": {"examples": len(rows), "tokens_per_epoch": tokens, **SETTINGS},
                "plain_trl_script": plain,
                "pipeline_train_node": node,
                "throughput_ratio": round(ratio, 3),
                "memory_ratio": round(memory_ratio, 3),
                "goal_within_5_percent": ratio >= 0.95 and memory_ratio <= 1.05,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
