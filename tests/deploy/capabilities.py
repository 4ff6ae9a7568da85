"""Running a command with only the capabilities the DaemonSet grants (setpriv, as root)."""

from __future__ import annotations

import os
import subprocess

from tests.support import require_tool

from .manifests import DEPLOY, agent_container, daemonset_of, load_documents


def daemonset_capabilities() -> list[str]:
    with open(os.path.join(DEPLOY, "kubernetes", "daemonset.yaml")) as f:
        container = agent_container(daemonset_of(load_documents(f.read())))
    return container["securityContext"]["capabilities"]["add"]


def with_capabilities(caps: list[str], argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` as root with only ``caps`` in its bounding (hence permitted) set."""
    setpriv = require_tool("setpriv")
    bounding = "-all," + ",".join("+" + c.lower() for c in caps)
    return subprocess.run(
        [setpriv, f"--bounding-set={bounding}", "--inh-caps=-all", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
