"""The inspector app on a tiny project copy, and one headless Chromium (Debian's package) driven by Selenium."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.conftest import PROJECT_ROOT, make_project_copy
from tests.inspector.project_data import write_project_data

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = PROJECT_ROOT / "build" / "inspector-screenshots"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    """``python -m openmath_kedro inspect`` in the project copy, in its own process group (vLLM goes with it)."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        env = {
            **os.environ,
            "KEDRO_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "openmath_kedro", "inspect", "--port", str(self.port)],
                cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"the inspector exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/_dash-layout", timeout=5) as response:
                    if response.status == 200:
                        return
            time.sleep(0.3)
        pytest.fail(f"the inspector did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the app closes its engine (atexit), then exits
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # what is left of the group (vLLM's engine core)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def inspector_project(tmp_path_factory, embedded_checkpoint_dir) -> Path:
    root = make_project_copy(
        tmp_path_factory.mktemp("inspector") / "project", local_globals="raw_data_mirrors: []\n"
    )
    write_project_data(root, embedded_checkpoint_dir)
    return root


@pytest.fixture(scope="module")
def app(inspector_project):
    server = AppProcess(inspector_project, inspector_project / "inspector.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.fail(f"{path} is missing: `make setup` installs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,1900", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\ninspector screenshots: {SCREENSHOTS}")
    yield driver
    driver.quit()


def copy_screenshots_to_docs() -> (
    None
):  # pragma: no cover - run by hand: python -c "...copy_screenshots_to_docs()"
    target = PROJECT_ROOT / "docs" / "images"
    target.mkdir(parents=True, exist_ok=True)
    for image in SCREENSHOTS.glob("*.png"):
        shutil.copy(image, target / f"inspector-{image.name}")
