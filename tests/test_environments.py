"""Environments: `--env gpu` takes the models from the environment (it does not read conf/local)."""

from __future__ import annotations

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from .conftest import make_project_copy


def test_the_gpu_environment_takes_model_paths_from_the_environment(tmp_path, monkeypatch):
    root = make_project_copy(tmp_path / "project", local_globals="models:\n  teacher: /ignored/under/gpu\n")
    monkeypatch.setenv("OPENMATH_TEACHER", "/models/teacher-70b")
    monkeypatch.delenv("OPENMATH_STUDENT", raising=False)
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="gpu") as session:
        catalog = session.load_context().catalog
        assert catalog.get("model_setup.teacher.source")._describe() == {"reference": "/models/teacher-70b"}
        assert catalog.get("model_setup.student.source")._describe() == {"reference": "embedded"}
    with KedroSession.create(project_path=root) as session:  # local: conf/local/globals.yml
        catalog = session.load_context().catalog
        assert catalog.get("model_setup.teacher.source")._describe() == {"reference": "/ignored/under/gpu"}
