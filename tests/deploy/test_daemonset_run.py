"""The agent started as the kubelet would start the DaemonSet's container: the image's
ENTRYPOINT plus the manifest's args, the ConfigMap and downward-API environment, exactly the
granted capabilities, exporting OTLP/gRPC to a local receiver standing in for the collector."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.agent.receivers import OtlpGrpcReceiver, resource_attributes, total_samples

from .capabilities import with_capabilities
from .dockerfile import parse
from .helm_chart import chart_values, rendered_objects
from .manifests import DEPLOY, ROOT, agent_container, daemonset_of, load_documents, run_probe

# What the kubelet would fill in from the downward API.
DOWNWARD = {"spec.nodeName": "node-a", "metadata.name": "pureprof-x1", "metadata.namespace": "pp"}


def raw_manifests() -> list[dict]:
    docs = []
    for name in ("configmap.yaml", "daemonset.yaml"):
        with open(os.path.join(DEPLOY, "kubernetes", name)) as f:
            docs += load_documents(f.read())
    return docs


def container_environment(container: dict, config_maps: dict[str, dict]) -> dict[str, str]:
    """The environment the container gets: envFrom ConfigMaps, then env (later wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "fieldRef" in var["valueFrom"]:
            env[var["name"]] = DOWNWARD[var["valueFrom"]["fieldRef"]["fieldPath"]]
        else:  # an optional Secret that does not exist: the variable is left out
            assert var["valueFrom"]["secretKeyRef"]["optional"] is True
    return env


def entrypoint() -> list[str]:
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        (instruction,) = parse(f.read())[1][-1].all("ENTRYPOINT")
    argv = instruction.exec_form
    return [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]


@pytest.mark.bpf
@pytest.mark.parametrize("source", ["kubernetes", "helm"])
def test_agent_runs_as_the_daemonset_starts_it(source, tmp_path):
    if source == "kubernetes":
        docs = raw_manifests()
    else:
        docs = rendered_objects(chart_values())
    config_maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    container = agent_container(daemonset_of(docs))
    env = container_environment(container, config_maps)
    assert env["OTLP_PROTOCOL"] == "grpc"
    with OtlpGrpcReceiver() as receiver:
        # Only the addresses change: the collector's, the volumes', and a short interval.
        env.update(
            OTLP_ENDPOINT=receiver.endpoint,
            INTERVAL="1",
            STATUS_FILE=str(tmp_path / "status.json"),
            SPILL_DIR=str(tmp_path / "spill"),
        )
        out = with_capabilities(
            container["securityContext"]["capabilities"]["add"],
            [*entrypoint(), *container["args"], "--duration", "2.5"],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], **env},
        )
        assert out.returncode == 0, out.stderr
        requests = list(receiver.requests)
    assert requests, out.stderr
    assert sum(total_samples(r) for r in requests) > 0
    attrs = [a for r in requests for a in resource_attributes(r)]
    assert {a["k8s.node.name"] for a in attrs} == {DOWNWARD["spec.nodeName"]}
    assert {a["host.name"] for a in attrs} == {DOWNWARD["spec.nodeName"]}
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["interval"] >= 1 and "otlp" in status["exporters"], status
    probe = container["livenessProbe"]["exec"]["command"]
    assert run_probe(probe, {"STATUS_FILE": env["STATUS_FILE"], "INTERVAL": "1"}) == 0
