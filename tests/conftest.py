"""Shared fixtures: where the project and the shared raw benchmark files are."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from openmath_kedro.datasets.verified_file import RawFile, sha256_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATASETS_ENV_VAR = "OPENMATH_SHARED_DATASETS"


def _shared_datasets_candidates() -> list[Path]:
    """Where the shared raw benchmark files may be, most explicit first.

    A clone made elsewhere (``git clone /work/main /tmp/x``) has no ``../shared`` of its own, but its
    origin, when that is a local directory, does.
    """
    candidates = []
    if os.environ.get(DATASETS_ENV_VAR):
        candidates.append(Path(os.environ[DATASETS_ENV_VAR]))
    candidates.append(PROJECT_ROOT.parent / "shared" / "datasets")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        origin = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        if origin and Path(origin).is_dir():
            candidates.append(Path(origin).resolve().parent / "shared" / "datasets")
    return [candidate.resolve() for candidate in candidates]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    candidates = _shared_datasets_candidates()
    for candidate in candidates:
        if (candidate / "MANIFEST.md").is_file():
            return candidate
    tried = ", ".join(str(candidate) for candidate in candidates)
    pytest.fail(
        f"the shared benchmark files are missing: looked for MANIFEST.md in {tried}; "
        f"set {DATASETS_ENV_VAR} to the directory that holds them"
    )


@pytest.fixture(scope="session")
def shared_raw(shared_datasets: Path):
    """A RawFile of a shared benchmark file, by its path relative to shared/datasets."""

    def load(name: str) -> RawFile:
        path = shared_datasets / name
        return RawFile(name=name, path=str(path), sha256=sha256_of(path), content=path.read_bytes())

    return load


def make_raw(name: str, text: str) -> RawFile:
    """A RawFile from literal text, for malformed-input cases."""
    return RawFile(name=name, path=f"/nowhere/{name}", sha256="0" * 64, content=text.encode())


def make_project_copy(root: Path, *, local_globals: str) -> Path:
    """A throwaway project: the real pyproject, conf and src (linked), its own data/ and conf/local.

    Runs happen with ``root`` as the working directory, so nothing touches the real data/.
    """
    root.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "conf" / "local" / "globals.yml").write_text(local_globals)
    # bootstrap_project wants src/ inside the project; the package itself is imported from the install
    shutil.copytree(
        PROJECT_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    # the embedded model is looked up in .venv/embedded-model relative to the working directory
    (root / ".venv").mkdir()
    (root / ".venv" / "embedded-model").symlink_to(PROJECT_ROOT / ".venv" / "embedded-model")
    return root


@contextlib.contextmanager
def kedro_session(root: Path, *, runtime_params: dict | None = None, **run_arguments):
    """Run pipelines of a project copy in a KedroSession, from inside it; yields the run's result."""
    previous = Path.cwd()
    os.chdir(root)
    try:
        bootstrap_project(root)
        with KedroSession.create(project_path=root, runtime_params=runtime_params) as session:
            yield session.run(**run_arguments)
    finally:
        os.chdir(previous)


@pytest.fixture(scope="session")
def embedded_checkpoint_dir(tmp_path_factory) -> Path:
    """The embedded model converted once per test session (what model_setup makes), for engine tests."""
    from openmath_kedro.datasets import ModelDirectoryDataset, ModelSourceDataset
    from openmath_kedro.params import ModelSetupParams
    from openmath_kedro.pipelines.model_setup.nodes import build_plain_checkpoint

    target = tmp_path_factory.mktemp("embedded") / "student"
    source = ModelSourceDataset(
        reference="embedded", search_dirs=[str(PROJECT_ROOT / ".venv" / "embedded-model")]
    )
    ModelDirectoryDataset(path=str(target)).save(
        build_plain_checkpoint(source.load(), ModelSetupParams(dtype="bfloat16"))
    )
    return target


# The whole recipe on a tiny configuration: only what differs from conf/base (parameters merge key by key).
# Generation keeps the default prompt, 8 GSM8K problems and 4 samples, so that the tiny teacher gets some
# right and filtering leaves an SFT set; everything else is cut down to mechanics.
TINY_RECIPE_PARAMETERS = {
    "parameters_generation.yml": """
generation:
  engine: {vllm: {max_model_len: 3072}}
  sampling: {max_tokens: 160}
  interpreter: {max_generated_tokens: 200}
  benchmarks:
    math: {max_problems: 2}
""",
    "parameters_finetuning.yml": """
finetuning:
  per_device_batch_size: 2
  max_steps: 2
  max_length: 512
""",
    "parameters_evaluation.yml": """
evaluation:
  engine: {vllm: {max_model_len: 2048}}
  interpreter: {max_code_rounds: 1, max_generated_tokens: 24}
  majority_ks: [1, 2]
  runs:
    greedy: {sampling: {max_tokens: 24}}
    sampled: {num_samples: 2, max_problems: 1, sampling: {max_tokens: 24}}
  benchmarks:
    gsm8k: {max_problems: 2}
    math: {max_problems: 1}
    math500: {max_problems: 1}
    svamp: {max_problems: 1}
    gsm_hard: {max_problems: 1}
    asdiv: {max_problems: 1}
    algebra222: {max_problems: 1}
    mawps: {max_problems: 1}
    tabmwp: {max_problems: 1}
""",
}


def make_tiny_recipe_project(root: Path, shared_datasets: Path) -> Path:
    """A project copy whose conf/local holds TINY_RECIPE_PARAMETERS."""
    make_project_copy(root, local_globals=f"raw_data_mirrors:\n  - {shared_datasets}\n")
    for name, text in TINY_RECIPE_PARAMETERS.items():
        (root / "conf" / "local" / name).write_text(text.lstrip())
    return root


@pytest.fixture(scope="session")
def recipe_project(tmp_path_factory, shared_datasets) -> Path:
    """``__default__`` (what `make run` runs) once, on the real components and the embedded model."""
    root = make_tiny_recipe_project(tmp_path_factory.mktemp("recipe") / "project", shared_datasets)
    with kedro_session(root):
        pass
    return root
