"""Debian root file systems with a CPython inside, for tests that profile a Python in a container.

``debootstrap --variant=minbase --include=<packages> <suite> DIR`` builds a root; ``chroot DIR``
runs its interpreter. The profiler then reads the interpreter through ``/proc/PID/root``, as it
would in a container. Roots are built once into a cache directory owned by root (never a
predictable name under /tmp): ``$PUREPROF_TEST_CACHE`` or ``/var/cache/pureprof-tests``. A root is
built in a fresh temporary directory inside the cache and renamed into place only when complete,
so an interrupted build is never mistaken for a ready root.

Run ``python -m tests.python_stacks.debian_roots`` (as root) to build every root ahead of the
tests (``./run-tests`` does so); the tests skip (fail under CI) when a root cannot be built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

MIRROR = os.environ.get("PUREPROF_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = os.environ.get("PUREPROF_TEST_CACHE", "/var/cache/pureprof-tests")
READY = ".pureprof-ready"


@dataclass(frozen=True)
class RootSpec:
    """One root: a suite and the packages to include."""

    suite: str
    packages: tuple[str, ...]
    python: str  # the interpreter inside the root

    @property
    def name(self) -> str:
        """The directory name of the root in the cache."""
        return f"debian-{self.suite}-" + "-".join(self.packages)


PYTHON313 = RootSpec("trixie", ("python3.13-minimal",), "/usr/bin/python3.13")
PYTHON314 = RootSpec("sid", ("python3.14-minimal",), "/usr/bin/python3.14")
ALL_ROOTS = (PYTHON313, PYTHON314)


class RootUnavailable(RuntimeError):
    """A root could not be built (no debootstrap, no network, not root)."""


def _cache_dir() -> str:
    os.makedirs(CACHE, mode=0o700, exist_ok=True)
    st = os.stat(CACHE)
    if st.st_uid != 0 or st.st_mode & 0o022:
        raise RootUnavailable(f"{CACHE} must be owned by root and not group/world-writable")
    return CACHE


def root_path(spec: RootSpec) -> str | None:
    """The root's directory if it is built, else None."""
    path = os.path.join(CACHE, spec.name)
    return path if os.path.exists(os.path.join(path, READY)) else None


def build_root(spec: RootSpec, timeout: float = 1500) -> str:
    """The root's directory, built now if it is not cached (needs root, debootstrap, network)."""
    found = root_path(spec)
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise RootUnavailable("building a Debian root needs root")
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if debootstrap is None:
        raise RootUnavailable("debootstrap is not installed (apt-get install debootstrap)")
    cache = _cache_dir()
    work = tempfile.mkdtemp(prefix=f".build-{spec.name}-", dir=cache)
    try:
        proc = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(spec.packages)}",
                spec.suite,
                work,
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not os.path.exists(work + spec.python):
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise RootUnavailable(f"debootstrap {spec.suite} failed ({proc.returncode}): {tail}")
        # Trim what the tests never use (apt lists and caches): the root is a cache entry.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
        with open(os.path.join(work, READY), "x") as f:
            f.write(" ".join(spec.packages) + "\n")
        final = os.path.join(cache, spec.name)
        os.rename(work, final)  # atomic: a root is either absent or complete
        work = ""
        return final
    except subprocess.TimeoutExpired as exc:
        raise RootUnavailable(f"debootstrap {spec.suite} timed out") from exc
    finally:
        if work:
            with contextlib.suppress(OSError):
                shutil.rmtree(work)


def main() -> int:
    """Build every root the tests use; print where they are."""
    status = 0
    for spec in ALL_ROOTS:
        try:
            print(f"{spec.name}: {build_root(spec)}")
        except RootUnavailable as exc:
            print(f"{spec.name}: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
