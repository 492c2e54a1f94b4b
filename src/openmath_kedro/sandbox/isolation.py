"""The command line that starts one worker: bubblewrap around the zygote, or the explicit unsafe mode."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import SandboxConfig

INSTALL_HINT = (
    "bubblewrap (the `bwrap` command) is required to run model-generated code safely. Install it with "
    "`sudo apt-get install -y bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora/RHEL) or "
    "`sudo pacman -S bubblewrap` (Arch). To run model code WITHOUT any isolation (it can then read your files, "
    "credentials and network), pass SandboxConfig(unsafe_no_isolation=True)."
)

SANDBOX_PYTHON = "/opt/python"
SANDBOX_PACKAGES = "/opt/site-packages"
# Capabilities bwrap leaves the zygote (it needs them to jail its sessions; jail.ZYGOTE_CAPABILITIES keeps
# exactly these, tests/sandbox/test_module_structure.py checks that the two lists agree).
ZYGOTE_CAPABILITIES = (
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_KILL",
    "CAP_SYS_ADMIN",
    "CAP_DAC_OVERRIDE",
)
# The modules that run inside the sandbox, each after the ones it imports; the last one is the zygote.
WORKER_MODULES = ("framing", "jail", "cell_runner", "zygote")
# The -c program of a worker. The sandbox shows the interpreter nothing of this project, so the host passes
# the worker modules' text after the zygote's configuration (argv: config, name, source, name, source, ...)
# and this program makes modules of them under their own names; their relative imports then find each other
# in sys.modules. importlib's finders only load from directories and zip files, which would have to be
# mounted into the sandbox.
_LAUNCHER = """\
import sys, types
texts = sys.argv[2:]
del sys.argv[2:]  # the zygote reads its configuration from sys.argv[1]
for name, source in zip(texts[::2], texts[1::2]):
    module = sys.modules[name] = types.ModuleType(name)
    module.__package__ = name.rpartition(".")[0]
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
module.main()
"""
# Each worker's sessions get their own uids; offset by pid so pools of different processes rarely share.
_uid_ranges = itertools.count(1_000_000 + (os.getpid() % 50_000) * 20_000, 1_000)


class SandboxUnavailableError(RuntimeError):
    """Raised when the isolated sandbox cannot run on this machine."""


@dataclass(frozen=True, kw_only=True)
class WorkerCommand:
    argv: list[str]
    env: dict[str, str]
    scratch_dir: str | None = None  # unsafe mode: where sessions get their working directories


def allocate_uid_base() -> int:
    """A range of 1000 uids for one worker's session processes."""
    return next(_uid_ranges)


def _find_bwrap(config: SandboxConfig) -> str:
    path = (
        config.bwrap
        or shutil.which("bwrap")
        or next((p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None)
    )
    if not path:
        raise SandboxUnavailableError(INSTALL_HINT)
    if os.geteuid() != 0:
        raise SandboxUnavailableError(
            "the sandbox gives every solution its own uid, which needs root (as on CI and in containers); "
            "run as root, or pass SandboxConfig(unsafe_no_isolation=True) to run model code WITHOUT isolation."
        )
    return path


def _package_dirs(names: tuple[str, ...]) -> list[Path]:
    """Installed directories (or single files) of the packages, plus their bundled native libraries."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    found: list[Path] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue  # optional package that is not installed
        if spec.submodule_search_locations:
            location = Path(next(iter(spec.submodule_search_locations)))
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            location = Path(spec.origin)
        else:
            continue
        location = location.resolve()
        if stdlib in location.parents:
            continue
        found.append(location)
        for libs in (location.parent / f"{name}.libs", location.parent / f"{name}_libs"):
            if libs.is_dir():
                found.append(libs.resolve())
    return found


def _python_mounts() -> tuple[list[str], str, str]:
    """bwrap args that show the base interpreter (not a venv, not $HOME) at /opt/python; its path inside."""
    executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    prefix = Path(sys.base_prefix).resolve()
    if prefix == Path("/usr"):  # a distribution Python: /usr/lib is bound anyway
        return ["--ro-bind", str(executable), str(executable)], str(executable), ""
    if prefix not in executable.parents:
        raise SandboxUnavailableError(f"cannot locate the interpreter of {sys.base_prefix} for the sandbox")
    inside = f"{SANDBOX_PYTHON}/{executable.relative_to(prefix)}"
    library_path = f"{SANDBOX_PYTHON}/lib" if (prefix / "lib").is_dir() else ""
    return ["--ro-bind", str(prefix), SANDBOX_PYTHON], inside, library_path


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr/lib", "/usr/lib"]
    if os.path.isdir("/usr/lib64"):
        args += ["--ro-bind", "/usr/lib64", "/usr/lib64"]
    for top in ("/lib", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _parent_dirs(mounts: list[str]) -> list[str]:
    """World-readable parents for the mount points (bwrap would create them 0700, closed to the sessions)."""
    destinations = [mounts[i + 2] for i, arg in enumerate(mounts) if arg in ("--ro-bind", "--symlink")]
    parents = {str(p) for d in destinations for p in Path(d).parents if str(p) != "/"}
    args: list[str] = []
    for parent in sorted(parents, key=lambda p: (p.count("/"), p)):
        args += ["--perms", "0755", "--dir", parent]
    return args


def _zygote_config(
    config: SandboxConfig, *, isolated: bool, uid_base: int, sys_path: list[str], scratch_dir: str = ""
) -> str:
    return json.dumps({
        "isolated": isolated,
        "limits": config.limits.model_dump(),
        "uid_base": uid_base,
        "sessions": config.sessions_per_worker,
        "max_solutions": config.max_solutions_per_process,
        "preload": list(config.preload),
        "warm_up": config.warm_up,
        "sys_path": sys_path,
        "unsafe_workdir": scratch_dir,
    })  # fmt: skip


def _common_env() -> dict[str, str]:
    return {
        "PYTHONHASHSEED": "0",  # the same code prints sets in the same order on every run
        "OPENBLAS_NUM_THREADS": "1",  # one worker per core; BLAS threads would only fight over them
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _worker_module_texts() -> list[str]:
    """name, source, name, source, ... of the worker modules, for the launcher."""
    here = Path(__file__).parent
    texts: list[str] = []
    for module in WORKER_MODULES:
        texts += [f"{__package__}.{module}", (here / f"{module}.py").read_text()]
    return texts


def worker_command(config: SandboxConfig, *, uid_base: int) -> WorkerCommand:
    """The argv (and environment) that starts one worker's zygote."""
    flags = ["-S", "-s", "-B", "-c", _LAUNCHER]
    packages = _package_dirs(config.packages)
    if config.unsafe_no_isolation:
        sys_path = sorted({str(p.parent) for p in packages})
        env = {**os.environ, **_common_env()}
        scratch = tempfile.mkdtemp(prefix="openmath-unsafe-sandbox-")
        zygote_config = _zygote_config(
            config, isolated=False, uid_base=0, sys_path=sys_path, scratch_dir=scratch
        )
        argv = [sys.executable, *flags, zygote_config, *_worker_module_texts()]
        return WorkerCommand(argv=argv, env=env, scratch_dir=scratch)

    bwrap = _find_bwrap(config)
    python_args, python, library_path = _python_mounts()
    package_args: list[str] = []
    for path in packages:
        package_args += ["--ro-bind", str(path), f"{SANDBOX_PACKAGES}/{path.name}"]
    capabilities = list(itertools.chain.from_iterable(("--cap-add", cap) for cap in ZYGOTE_CAPABILITIES))
    env = {**_common_env(), "HOME": "/tmp", "TMPDIR": "/tmp", "PATH": f"{Path(python).parent}"}
    if library_path:
        env["LD_LIBRARY_PATH"] = library_path
    env_args = list(itertools.chain.from_iterable(("--setenv", k, v) for k, v in env.items()))
    mounts = [*_system_mounts(), *python_args, *package_args]
    argv = [
        bwrap,
        # Namespaces: no network at all (only a loopback of its own), own pids, IPC and hostname.
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "sandbox", "--die-with-parent", "--new-session",
        # The zygote keeps only what it needs to jail its sessions; the sessions themselves keep nothing.
        "--cap-drop", "ALL", *capabilities,
        # Read-only view of the system libraries, the interpreter and the listed packages. Nothing else:
        # no /etc, no /home or /root, no project directory, no venv, no /var.
        *_parent_dirs(mounts), *mounts,
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/",
        "--clearenv", *env_args, "--chdir", "/tmp",
        python, *flags,
        _zygote_config(config, isolated=True, uid_base=uid_base, sys_path=[SANDBOX_PACKAGES]),
        *_worker_module_texts(),
    ]  # fmt: skip
    return WorkerCommand(argv=argv, env={})
