"""model_setup on the real embedded model and on a local HF directory, through a KedroSession."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from openmath_kedro.datasets import ModelDirectory
from tests.conftest import kedro_session, make_project_copy

pytestmark = pytest.mark.integration


def make_project(root: Path, *, teacher: str = "embedded") -> Path:
    return make_project_copy(root, local_globals=f"models:\n  student: embedded\n  teacher: {teacher}\n")


def run_role(root: Path, role: str) -> Path:
    with kedro_session(
        root, pipeline_names=["model_setup"], node_names=[f"model_setup.{role}.build_checkpoint"]
    ):
        pass
    return root / "data" / "06_models" / role


@pytest.fixture(scope="module")
def embedded_checkpoint(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("model_setup") / "project")
    return run_role(root, "student")


def test_embedded_model_becomes_a_plain_checkpoint(embedded_checkpoint: Path):
    config = json.loads((embedded_checkpoint / "config.json").read_text())
    assert "quantization_config" not in config  # vLLM refuses "gguf" quantization
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["dtype"] == "bfloat16"
    assert (embedded_checkpoint / "model.safetensors").stat().st_size > 200 * 2**20  # 135M params in bf16
    provenance = ModelDirectory(path=embedded_checkpoint).provenance
    assert provenance["kind"] == "embedded-gguf"
    assert provenance["parameters"] == 134_515_008
    assert not [p for p in embedded_checkpoint.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_checkpoint_loads_with_transformers_and_writes_text(embedded_checkpoint: Path):
    directory = ModelDirectory(path=embedded_checkpoint)
    model = directory.load_model(dtype=torch.float32)
    tokenizer = directory.load_tokenizer()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}], tokenize=False, add_generation_prompt=True
    )
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    text = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert len(text.split()) >= 3, text
    # a conversion that scrambled the weights gives a near-uniform next-token distribution
    # (1/49152 per token); the real model puts hundreds of times more on its top choice
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    assert torch.softmax(logits, dim=-1).max() > 500 / model.config.vocab_size


def test_local_directory_reference(embedded_checkpoint: Path, tmp_path: Path):
    """A configured local HF directory replaces the embedded model for one role."""
    tiny_dir = tmp_path / "tiny-llama"
    torch.manual_seed(0)
    tiny = LlamaForCausalLM(
        LlamaConfig(vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)
    )  # fmt: skip
    tiny.save_pretrained(tiny_dir)
    ModelDirectory(path=embedded_checkpoint).load_tokenizer().save_pretrained(tiny_dir)

    checkpoint = run_role(make_project(tmp_path / "project", teacher=str(tiny_dir)), "teacher")

    assert ModelDirectory(path=checkpoint).provenance["kind"] == "hf-directory"
    rebuilt = ModelDirectory(path=checkpoint).load_model(dtype=torch.float32)
    assert rebuilt.config.hidden_size == 32 and rebuilt.config.num_hidden_layers == 2
    original = tiny.state_dict()
    for name, tensor in rebuilt.state_dict().items():
        assert torch.allclose(tensor, original[name].to(torch.bfloat16).float()), name
