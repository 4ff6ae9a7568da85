"""The CPython interpreters the tests run: this machine's, and those in Debian roots (chroot).

Each is an :class:`Interp`: how to start it (``argv`` prefix), where its scripts must live to be
seen by it (a chrooted one only sees its root), and the headers its layout can be checked
against (when installed). Tests ask for one with :func:`require`, which skips (fails under CI)
when it is not there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support import skip_or_fail

from . import debian_roots


@dataclass(frozen=True)
class Interp:
    """One interpreter to run workloads with."""

    name: str
    argv: tuple[str, ...]  # the command that runs it (a script path follows)
    root: str = ""  # its root file system when chrooted ("" on the host)
    include: str = ""  # a directory with its headers (Python.h and internal/), if installed

    @contextlib.contextmanager
    def script_dir(self) -> Iterator[tuple[str, str]]:
        """A fresh directory for scripts: (path for us, path for the interpreter)."""
        base = os.path.join(self.root, "tmp") if self.root else None
        path = tempfile.mkdtemp(prefix="pystacks-", dir=base)
        try:
            inner = path[len(self.root) :] if self.root else path
            yield path, inner
        finally:
            shutil.rmtree(path, ignore_errors=True)


PYENV = os.path.expanduser("~/.pyenv/versions")


def _pyenv(version: str) -> Interp:
    minor = ".".join(version.split(".")[:2])
    return Interp(
        f"pyenv-{version}",
        (f"{PYENV}/{version}/bin/python{minor}",),
        include=f"{PYENV}/{version}/include/python{minor}",
    )


DEBIAN_311 = Interp("debian-3.11", ("/usr/bin/python3.11",), include="/usr/include/python3.11")
PYENV_310 = _pyenv("3.10.13")
PYENV_311 = _pyenv("3.11.7")
PYENV_312 = _pyenv("3.12.1")
PYENV_313 = _pyenv("3.13.0")


def chrooted(spec: debian_roots.RootSpec) -> Interp:
    """The interpreter of a Debian root (built on first use; skips if it cannot be built)."""
    try:
        root = debian_roots.build_root(spec)
    except debian_roots.RootUnavailable as exc:
        skip_or_fail(f"Debian root {spec.name}: {exc}")
    return Interp(f"chroot-{spec.name}", ("chroot", root, spec.python), root=root)


def require(interp: Interp) -> Interp:
    """``interp`` if it can run here; else skip (fail under CI)."""
    exe = interp.argv[0] if not interp.root else os.path.join(interp.root, interp.argv[2][1:])
    if not os.access(exe, os.X_OK):
        skip_or_fail(f"{interp.name}: {exe} is not installed")
    if interp.root and os.geteuid() != 0:
        skip_or_fail("chroot needs root")
    return interp


def run(interp: Interp, code: str, timeout: float = 60) -> str:
    """Run ``code`` with ``interp`` (``-c``); its stdout."""
    out = subprocess.run(
        [*interp.argv, "-c", code], capture_output=True, text=True, timeout=timeout, check=True
    )
    return out.stdout
