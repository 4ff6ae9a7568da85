"""Loading and checking Kubernetes manifests in tests: YAML documents, schema validation, and
the facts about the agent's container that both the raw manifests and the Helm chart must keep."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
# kubernetes-validate 1.37 ships schemas for 1.25 ... 1.37: the oldest version with the
# appArmorProfile field, and the newest.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

# What the agent needs to read or do on a node, whatever the install path.
REQUIRED_CAPABILITIES = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE", "SYSLOG", "SYS_PTRACE"}


def load_documents(text: str) -> list[dict]:
    """The non-empty YAML documents of ``text``."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate(doc: dict) -> list[str]:
    """Validate one object against each Kubernetes schema version (strict: unknown fields are
    errors); returns the versions validated against."""
    import kubernetes_validate

    return [kubernetes_validate.validate(doc, v, strict=True) for v in KUBERNETES_VERSIONS]


def daemonset_of(docs: list[dict]) -> dict:
    """The one DaemonSet among ``docs``."""
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    return ds


def agent_container(ds: dict) -> dict:
    """The agent container of a DaemonSet."""
    (container,) = ds["spec"]["template"]["spec"]["containers"]
    return container


def env_names(container: dict) -> list[str]:
    """Names of the container's explicit environment variables."""
    return [e["name"] for e in container.get("env", [])]


def agent_reads_env(name: str) -> bool:
    """Whether ``python -m profiler agent`` reads environment variable ``name``."""
    import profiler.agent.agent
    import profiler.cli.agent_command

    modules = (profiler.cli.agent_command, profiler.agent.agent)
    return any(f'"{name}"' in inspect.getsource(m) for m in modules)


def check_agent_container(ds: dict) -> None:
    """Assertions every agent DaemonSet must pass (raw manifest or rendered chart)."""
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert any(t.get("operator") == "Exists" and "key" not in t for t in pod["tolerations"]), (
        "no toleration that matches every taint: the agent would skip tainted nodes"
    )
    container = agent_container(ds)
    sc = container["securityContext"]
    if not sc.get("privileged"):
        added = set(sc["capabilities"]["add"])
        assert REQUIRED_CAPABILITIES <= added, REQUIRED_CAPABILITIES - added
    else:
        assert "capabilities" not in sc
    requests = container["resources"]["requests"]
    assert (requests["cpu"], requests["memory"]) == ("100m", "128Mi")
    assert container["resources"]["limits"]
    downward = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "fieldRef" in e.get("valueFrom", {})
    }
    assert downward == {
        "NODE_NAME": "spec.nodeName",
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
    }
    for name in env_names(container):
        assert agent_reads_env(name), f"the agent reads no environment variable {name}"
    # Writable state lives on volumes: the status file and the spill directory.
    values = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for name in ("STATUS_FILE", "SPILL_DIR"):
        path = values[name]
        mount = next(m for p, m in mounts.items() if path == p or path.startswith(p + "/"))
        assert not mount.get("readOnly"), name
        assert "emptyDir" in volumes[mount["name"]], name
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"][0] == "python"
    # The AppArmor annotation names a container (the API server rejects it otherwise) and agrees
    # with the securityContext field where both are set.
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    annotations = ds["spec"]["template"]["metadata"].get("annotations", {})
    for key, value in annotations.items():
        if key.startswith(prefix):
            assert key[len(prefix) :] == container["name"]
            field = sc.get("appArmorProfile", {}).get("type")
            assert field is None or field.lower() == value


def run_probe(command: list[str], env: dict[str, str]) -> int:
    """Run a probe command as the kubelet would: in the container's environment."""
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    full_env = {**os.environ, **env}
    return subprocess.run(argv, env=full_env, capture_output=True, timeout=30).returncode
