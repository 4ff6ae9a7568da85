"""deploy/helm/pureprof: values and templates agree, and the chart renders to valid objects.

helm is not installable here, so ``gotemplate.Renderer`` renders the subset of Go templates the
chart uses; the result is validated against the Kubernetes 1.30 schemas in both security modes.
"""

from __future__ import annotations

import copy
import os

import pytest

from .gotemplate import Renderer, TemplateError
from .helm_chart import (
    chart_metadata,
    chart_values,
    leaf_paths,
    render,
    rendered_objects,
    template_references,
)
from .manifests import (
    DEPLOY,
    REQUIRED_CAPABILITIES,
    agent_container,
    check_agent_container,
    daemonset_of,
    load_documents,
    validate,
)


def test_every_value_is_used_by_a_template():
    refs = template_references()
    unused = {
        leaf
        for leaf in leaf_paths(chart_values())
        if not any(leaf == ref or leaf.startswith(ref + ".") for ref in refs)
    }
    assert not unused, f"values.yaml entries no template reads: {sorted(unused)}"


def test_every_value_a_template_reads_exists():
    values = chart_values()
    missing = []
    for ref in template_references():
        node = values
        for key in ref.split("."):
            if not isinstance(node, dict) or key not in node:
                missing.append(ref)
                break
            node = node[key]
    assert not missing, f"templates read values that values.yaml lacks: {missing}"


def test_renderer_refuses_an_unknown_value():
    # The checks below rely on it: a typo in a template must not render as an empty string.
    with pytest.raises(TemplateError):
        Renderer({"Values": {"a": 1}}).render("x: {{ .Values.b }}")


@pytest.mark.parametrize("mode", ["capabilities", "privileged"])
def test_chart_renders_valid_kubernetes_objects(mode):
    values = chart_values()
    values["securityContext"]["mode"] = mode
    docs = rendered_objects(values)
    assert {d["kind"] for d in docs} == {"DaemonSet", "ServiceAccount"}
    for doc in docs:
        assert validate(doc)
    ds = daemonset_of(docs)
    check_agent_container(ds)
    sc = agent_container(ds)["securityContext"]
    assert sc["privileged"] is (mode == "privileged")


def test_rendered_values_reach_the_agent():
    values = chart_values()
    container = agent_container(daemonset_of(rendered_objects(values)))
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SAMPLE_FREQ"] == str(values["sampleFrequency"])
    assert env["INTERVAL"] == str(values["interval"])
    assert env["OTLP_ENDPOINT"] == values["exporter"]["endpoint"]
    assert env["OTLP_PROTOCOL"] == values["exporter"]["protocol"]
    assert env["OTLP_COMPRESSION"] == values["exporter"]["compression"]
    assert "OTLP_HEADERS" not in env  # empty headers are left out
    from profiler.cli.agent_command import build_parser

    parsed = build_parser().parse_args(container["args"])
    assert (parsed.stack_map_size, parsed.max_stack_depth) == (
        values["mapSize"],
        values["stackDepth"],
    )
    assert container["image"].endswith(":" + str(chart_metadata()["appVersion"]))
    assert set(container["securityContext"]["capabilities"]["add"]) >= REQUIRED_CAPABILITIES


def test_optional_values_render_when_set():
    values = chart_values()
    values["exporter"]["headers"] = "X-Scope-OrgID=tenant1"
    values["serviceName"] = "checkout"
    values["nodeSelector"] = {"kubernetes.io/os": "linux"}
    values["extraEnv"] = [{"name": "PYROSCOPE_URL", "value": "http://pyroscope:4040"}]
    values["serviceAccount"] = {"create": False, "name": "existing"}
    docs = rendered_objects(values)
    assert {d["kind"] for d in docs} == {"DaemonSet"}
    ds = daemonset_of(docs)
    for doc in docs:
        assert validate(doc)
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["serviceAccountName"] == "existing"
    env = {e["name"]: e.get("value") for e in agent_container(ds)["env"]}
    assert env["OTLP_HEADERS"] == values["exporter"]["headers"]
    assert env["SERVICE_NAME"] == "checkout"
    assert env["PYROSCOPE_URL"] == "http://pyroscope:4040"


def test_chart_and_raw_manifest_agree_on_the_container():
    with open(os.path.join(DEPLOY, "kubernetes", "daemonset.yaml")) as f:
        raw = agent_container(daemonset_of(load_documents(f.read())))
    rendered = agent_container(daemonset_of(rendered_objects(chart_values())))
    for key in ("securityContext", "resources", "volumeMounts", "livenessProbe", "args"):
        assert rendered[key] == raw[key], key


def test_probes_can_be_disabled_and_notes_render():
    values = copy.deepcopy(chart_values())
    values["probes"]["enabled"] = False
    container = agent_container(daemonset_of(rendered_objects(values)))
    assert "livenessProbe" not in container
    notes = render(chart_values())["NOTES.txt"]
    assert chart_values()["exporter"]["endpoint"] in notes
