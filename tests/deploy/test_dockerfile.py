"""deploy/Dockerfile: two stages, a compiler-free runtime, sources that exist and are not ignored.

No Docker engine runs here, so the image is not built; the fresh-venv test runs the same
``pip wheel`` / ``pip install --only-binary :all:`` steps for real.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .dockerfile import dockerignore_patterns, ignored, parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
DOCKERIGNORE = DOCKERFILE + ".dockerignore"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "cc ", "make ", "python3-dev", "libc6-dev")


@pytest.fixture(scope="module")
def stages():
    with open(DOCKERFILE) as f:
        return parse(f.read())[1]


def test_two_stages_build_then_slim_runtime(stages):
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        assert re.fullmatch(r"python:3\.1[12]-slim", stage.base), stage.base


def test_build_stage_makes_the_wheel_and_fetches_binary_wheels(stages):
    runs = " ".join(i.text for i in stages[0].all("RUN"))
    assert "pip wheel" in runs and "--no-deps" in runs
    assert "pip download" in runs and "--only-binary :all:" in runs


def test_runtime_installs_only_binary_wheels_and_no_compiler(stages):
    runtime = stages[-1]
    installs = [i for i in runtime.all("RUN") if "pip install" in i.text]
    assert installs, "the runtime stage installs nothing"
    for run in installs:
        assert "--only-binary :all:" in run.text
    for run in runtime.all("RUN"):
        assert not any(c in run.text + " " for c in COMPILERS), run.text
    # Wheels come from the build stage through a bind mount: that stage must exist.
    mounts = [i.flags["mount"] for i in runtime.all("RUN") if "mount" in i.flags]
    names = {s.name for s in stages}
    for mount in mounts:
        source = dict(kv.split("=", 1) for kv in mount.split(","))
        assert source["from"] in names


def test_runtime_runs_the_agent_as_root(stages):
    runtime = stages[-1]
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert entrypoint.exec_form == ["python", "-m", "profiler", "agent"]
    users = runtime.all("USER")
    assert all(u.args[0] in ("0", "root") for u in users)


def test_copy_sources_exist_and_reach_the_build_context(stages):
    with open(DOCKERIGNORE) as f:
        patterns = dockerignore_patterns(f.read())
    copies = [i for s in stages for i in s.all("COPY") if "from" not in i.flags]
    assert copies
    for copy in copies:
        for source in copy.args[:-1]:
            assert os.path.exists(os.path.join(ROOT, source)), source
            assert not ignored(source, patterns), f"{source} is excluded by the .dockerignore"


def test_dockerignore_keeps_caches_and_tests_out():
    with open(DOCKERIGNORE) as f:
        patterns = dockerignore_patterns(f.read())
    for path in ("tests/conftest.py", ".git/HEAD", "profiler/__pycache__/cli.cpython-311.pyc"):
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "pybpf/syscall.py", "pprof_encoder/wire.py"):
        assert not ignored(path, patterns), path


def test_every_package_the_wheel_needs_is_copied(stages):
    # pyproject.toml's package list must all be in the build context copied into the image.
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        include = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {src for i in stages[0].all("COPY") for src in i.args[:-1]}
    for pattern in include:
        assert pattern.rstrip("*") in copied, pattern


def test_entrypoint_command_exists():
    out = subprocess.run(
        [sys.executable, "-m", "profiler", "agent", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "--interval" in out.stdout
