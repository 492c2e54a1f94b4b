"""Engine credentials: from conf/local/credentials.yml to the engine, never into parameters or cache keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from openmath_kedro.runs import resources as resources
from tests.conftest import make_project_copy


@pytest.fixture
def created(monkeypatch) -> list[dict]:
    calls: list[dict] = []

    class Engine:
        def close(self) -> None:
            pass

    monkeypatch.setattr(resources, "create_engine", lambda **settings: calls.append(settings) or Engine())
    yield calls
    resources.close_shared_resources()
    resources.use_credentials({})


OPENAI = {"kind": "openai", "model": "teacher", "base_urls": ["http://127.0.0.1:9/v1"]}


def test_named_credentials_become_the_api_key(created):
    resources.use_credentials({"teacher_api": {"api_key": "sk-test-123"}})
    resources.shared_engine(OPENAI | {"credentials": "teacher_api"})
    assert created == [OPENAI | {"api_key": "sk-test-123"}]


def test_settings_without_credentials_are_passed_as_they_are(created):
    resources.shared_engine(OPENAI)
    assert created == [OPENAI]


def test_a_missing_entry_is_named(created):
    resources.use_credentials({"other": {"api_key": "x"}})
    with pytest.raises(
        ValueError, match=r"no entry 'teacher_api' with an api_key .* \(entries: \['other'\]\)"
    ):
        resources.shared_engine(OPENAI | {"credentials": "teacher_api"})


def test_the_hook_reads_conf_local_credentials(tmp_path, created):
    root = make_project_copy(tmp_path / "project", local_globals="{}\n")
    (root / "conf" / "local" / "credentials.yml").write_text("teacher_api:\n  api_key: sk-from-file\n")
    previous = Path.cwd()
    os.chdir(root)
    try:
        bootstrap_project(root)
        with KedroSession.create(project_path=root) as session:
            session.load_context()
    finally:
        os.chdir(previous)
    resources.shared_engine(OPENAI | {"credentials": "teacher_api"})
    assert created[0]["api_key"] == "sk-from-file"


def test_one_engine_at_a_time(monkeypatch):
    """A second model's engine starts only after the first one is closed (two models never share memory)."""
    events: list[str] = []

    class Engine:
        def __init__(self, model: str) -> None:
            self.model = model
            events.append(f"start {model}")

        def close(self) -> None:
            events.append(f"close {self.model}")

    monkeypatch.setattr(resources, "create_engine", lambda **settings: Engine(settings["model"]))
    try:
        first = resources.shared_engine({"kind": "vllm", "model": "/models/base"})
        assert resources.shared_engine({"kind": "vllm", "model": "/models/base"}) is first
        resources.shared_engine({"kind": "vllm", "model": "/models/finetuned"})
        assert events == ["start /models/base", "close /models/base", "start /models/finetuned"]
    finally:
        resources.close_shared_resources()
    assert events[-1] == "close /models/finetuned"
