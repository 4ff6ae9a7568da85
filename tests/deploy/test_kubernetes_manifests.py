"""deploy/kubernetes/*.yaml: valid Kubernetes 1.30 objects, and what the agent needs from them."""

from __future__ import annotations

import copy
import glob
import os
import time

import pytest

from .manifests import (
    DEPLOY,
    agent_container,
    agent_reads_env,
    check_agent_container,
    daemonset_of,
    load_documents,
    run_probe,
    validate,
)

FILES = sorted(glob.glob(os.path.join(DEPLOY, "kubernetes", "*.yaml")))


def documents() -> list[dict]:
    docs = []
    for path in FILES:
        with open(path) as f:
            docs += load_documents(f.read())
    return docs


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_manifest_is_a_valid_kubernetes_object(path):
    with open(path) as f:
        docs = load_documents(f.read())
    assert docs
    for doc in docs:
        assert validate(doc)


def test_the_validator_rejects_a_misspelt_field():
    # Guard against a validator that accepts anything: strict mode must catch "hostPid".
    import kubernetes_validate

    ds = copy.deepcopy(daemonset_of(documents()))
    ds["spec"]["template"]["spec"]["hostPid"] = ds["spec"]["template"]["spec"].pop("hostPID")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(ds)


def test_daemonset_gives_the_agent_what_it_needs():
    check_agent_container(daemonset_of(documents()))


def test_objects_share_one_namespace_and_names_resolve():
    docs = documents()
    (namespace,) = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["kind"]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    ds = daemonset_of(docs)
    pod = ds["spec"]["template"]["spec"]
    assert ("ServiceAccount", pod["serviceAccountName"]) in names
    for source in agent_container(ds).get("envFrom", []):
        assert ("ConfigMap", source["configMapRef"]["name"]) in names
    selector = ds["spec"]["selector"]["matchLabels"]
    assert selector.items() <= ds["spec"]["template"]["metadata"]["labels"].items()


def test_configmap_keys_are_agent_settings():
    (cm,) = [d for d in documents() if d["kind"] == "ConfigMap"]
    for key in cm["data"]:
        assert agent_reads_env(key), key


def test_container_args_parse_as_agent_flags():
    from profiler.cli.agent_command import build_parser

    args = agent_container(daemonset_of(documents()))["args"]
    parsed = build_parser().parse_args(args)
    given = dict(zip(args[::2], args[1::2], strict=True))
    assert parsed.stack_map_size == int(given["--stack-map-size"])
    assert parsed.max_stack_depth == int(given["--max-stack-depth"])


def test_probe_passes_on_a_fresh_status_file_and_fails_on_a_stale_or_missing_one(tmp_path):
    container = agent_container(daemonset_of(documents()))
    command = container["livenessProbe"]["exec"]["command"]
    status = tmp_path / "status.json"
    env = {"STATUS_FILE": str(status), "INTERVAL": "10"}
    assert run_probe(command, env) != 0  # not written yet
    status.write_text("{}")
    assert run_probe(command, env) == 0
    old = time.time() - 3 * 10 - 31  # older than three intervals and the grace
    os.utime(status, (old, old))
    assert run_probe(command, env) != 0
    # A longer interval tolerates an older file.
    assert run_probe(command, {**env, "INTERVAL": "60"}) == 0
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"] == command
