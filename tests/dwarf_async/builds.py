"""Builds the test programs under ``apps/`` (Rust with Tokio, C) into a cache under /tmp.

The Tokio program is built offline against Debian's ``librust-tokio-dev`` crates (see
``apps/tokio_app/.cargo/config.toml``), once per (sources, flags, rustc) hash: repeated test runs
reuse the binary. Concurrent sessions serialise on a lock file.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support import require_tool, skip_or_fail

APPS = Path(__file__).parent / "apps"
CACHE = Path(os.environ.get("PUREPROF_TEST_BUILD_CACHE", "/tmp/pureprof-dwarf-async"))
DEBIAN_REGISTRY = "/usr/share/cargo/registry"

# Release builds with debug info; the variants differ in what a profiler has to cope with.
RUST_VARIANTS: dict[str, list[str]] = {
    # rustc's defaults: DWARF 4, legacy mangling, no frame pointers.
    "legacy": [],
    "legacy_fp": ["-C", "force-frame-pointers=yes"],
    # v0 mangling and DWARF 5 (.debug_rnglists, .debug_addr, .debug_line_str).
    "v0_fp_dwarf5": [
        "-C",
        "symbol-mangling-version=v0",
        "-C",
        "force-frame-pointers=yes",
        "-C",
        "dwarf-version=5",
    ],
}

# How long each build took in this process (seconds), for the report.
BUILD_SECONDS: dict[str, float] = {}


def _cargo() -> str:
    found = shutil.which("cargo") or os.path.expanduser("~/.cargo/bin/cargo")
    if not os.path.exists(found):
        return require_tool("cargo")
    return found


def _sources_digest(root: Path, extra: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


def build_tokio_app(variant: str) -> str:
    """Path to the Tokio test program built with ``RUST_VARIANTS[variant]`` (built if needed)."""
    if not glob.glob(f"{DEBIAN_REGISTRY}/tokio-1.*"):
        skip_or_fail("needs Debian's librust-tokio-dev (apt-get install librust-tokio-dev)")
    cargo = _cargo()
    env = dict(os.environ)
    env["PATH"] = f"{os.path.dirname(cargo)}:{env.get('PATH', '')}"
    rustc = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, env=env)
    if rustc.returncode != 0:
        skip_or_fail("needs rustc next to cargo")
    flags = RUST_VARIANTS[variant]
    source = APPS / "tokio_app"
    key = _sources_digest(source, [*flags, rustc.stdout])
    home = CACHE / f"tokio_app-{variant}-{key}"
    binary = home / "tokio_app"
    if binary.exists():
        return str(binary)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".lock-{variant}-{key}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building the same thing
        if binary.exists():
            return str(binary)
        work = home / "work"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(source, work)
        env["RUSTFLAGS"] = " ".join(flags)
        env["CARGO_TARGET_DIR"] = str(home / "target")
        started = time.monotonic()
        done = subprocess.run(
            [cargo, "build", "--release", "--offline", "--quiet"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        BUILD_SECONDS[variant] = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"cargo build ({variant}) failed:\n{done.stderr[-4000:]}")
        built = home / "target" / "release" / "tokio_app"
        shutil.copy2(built, home / "tokio_app.tmp")
        os.replace(home / "tokio_app.tmp", binary)  # appears complete or not at all
    return str(binary)


def build_c_program(out_dir: Path, dwarf_version: int, debug: bool = True) -> str:
    """``apps/c_inline/inline.c`` compiled with ``gcc -O2 [-g -gdwarf-N]`` into ``out_dir``."""
    gcc = require_tool("gcc")
    out = out_dir / f"inline-dwarf{dwarf_version}{'' if debug else '-nodebug'}"
    args = [gcc, "-O2", "-o", str(out), str(APPS / "c_inline" / "inline.c")]
    if debug:
        args[1:1] = ["-g", f"-gdwarf-{dwarf_version}"]
    subprocess.run(args, check=True, capture_output=True)
    return str(out)


def build_cpp_program(out_dir: Path) -> str:
    """``apps/cpp_inline/inline.cpp`` compiled with ``g++ -O2 -g`` into ``out_dir``."""
    gxx = require_tool("g++")
    out = out_dir / "inline-cpp"
    source = APPS / "cpp_inline" / "inline.cpp"
    subprocess.run([gxx, "-O2", "-g", "-o", str(out), str(source)], check=True, capture_output=True)
    return str(out)
