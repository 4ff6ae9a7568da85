"""The install check: the wheel built from this checkout installs into a fresh venv from binary
wheels only (no compiler), and its three command-line tools run there.

It copies exactly what deploy/Dockerfile copies into its build stage, builds the wheel with
``pip wheel --no-deps`` and installs it with ``pip install --only-binary :all:`` (dependencies from
PyPI, through pip's cache), as the image does. Needs PyPI (or a warm pip cache).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.support import require_root

from .dockerfile import parse
from .manifests import DEPLOY, ROOT, agent_container, daemonset_of, load_documents, run_probe

pytestmark = pytest.mark.slow


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the checkout's wheel installed; yields its python."""
    work = tmp_path_factory.mktemp("fresh-venv")
    context = work / "context"
    context.mkdir()
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        build_stage = parse(f.read())[1][0]
    for copy in build_stage.all("COPY"):
        for source in copy.args[:-1]:
            src = os.path.join(ROOT, source)
            if os.path.isdir(src):
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(src, context / source, ignore=ignore)
            else:
                shutil.copy2(src, context / source)
    timings = {}
    t0 = time.monotonic()
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), "."], cwd=context
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = glob.glob(str(work / "pureprof-*.whl"))
    timings["wheel"] = time.monotonic() - t0
    t0 = time.monotonic()
    env_dir = work / "venv"
    # No pip inside (ensurepip alone takes seconds): the checkout's pip installs into it.
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    assert made.returncode == 0, made.stderr
    python = str(env_dir / "bin" / "python")
    timings["venv"] = time.monotonic() - t0
    t0 = time.monotonic()
    # The grpc extra too: the image installs it (OTLP_PROTOCOL=grpc is the chart's default).
    installed = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--disable-pip-version-check",
            "--only-binary",
            ":all:",
            f"{wheel}[grpc]",
        ]
    )
    # A dependency without a wheel for this platform fails here, with pip's own message.
    assert installed.returncode == 0, installed.stdout + installed.stderr
    timings["install"] = time.monotonic() - t0
    print("fresh venv: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    yield python, work


def run_in_venv(python: str, work, *args: str) -> subprocess.CompletedProcess:
    # Run from outside the checkout so that nothing is imported from it.
    return _run([python, *args], cwd=work, env={**os.environ, "PYTHONPATH": ""})


def test_packages_come_from_the_venv(venv):
    python, work = venv
    out = run_in_venv(
        python,
        work,
        "-c",
        "import profiler, pybpf, pprof_encoder, grpc; "
        "print(profiler.__file__, pybpf.__file__, pprof_encoder.__file__)",
    )
    assert out.returncode == 0, out.stderr
    for path in out.stdout.split():
        assert path.startswith(str(work / "venv")), path


@pytest.mark.parametrize("module", ["profiler", "pprof_encoder"])
def test_help_runs(venv, module):
    python, work = venv
    out = run_in_venv(python, work, "-m", module, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: python -m {module}")


@pytest.mark.bpf
def test_pybpf_probe_prints_json(venv):
    python, work = venv
    out = run_in_venv(python, work, "-m", "pybpf", "probe", "--json")
    # 0: every feature present, 1: some missing (still a valid report).
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert doc["features"] and all("available" in f for f in doc["features"])


@pytest.mark.bpf
def test_agent_writes_profiles_and_a_status_the_probe_accepts(venv):
    require_root()
    python, work = venv
    output, status = work / "profiles", work / "status.json"
    out = run_in_venv(
        python,
        work,
        "-m",
        "profiler",
        "agent",
        "--interval",
        "1",
        "--duration",
        "3",
        "--output-dir",
        str(output),
        "--status-file",
        str(status),
    )
    assert out.returncode == 0, out.stderr
    profiles = sorted(glob.glob(str(output / "*.pb.gz")))
    assert profiles, out.stderr
    # The profiles are valid pprof: the venv's own pprof_encoder reads them.
    top = run_in_venv(python, work, "-m", "pprof_encoder", "top", "-n", "3", profiles[-1])
    assert top.returncode == 0, top.stderr
    report = json.loads(status.read_text())
    assert report["interval"] >= 1
    # The DaemonSet's health probe, run with the venv's python, accepts the fresh status file.
    with open(os.path.join(DEPLOY, "kubernetes", "daemonset.yaml")) as f:
        container = agent_container(daemonset_of(load_documents(f.read())))
    command = [python, *container["livenessProbe"]["exec"]["command"][1:]]
    assert run_probe(command, {"STATUS_FILE": str(status), "INTERVAL": "1"}) == 0
