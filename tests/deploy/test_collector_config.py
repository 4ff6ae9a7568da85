"""deploy/otel-collector/config.yaml: a profiles pipeline whose components are all defined."""

from __future__ import annotations

import os

import yaml

from .manifests import DEPLOY

CONFIG = os.path.join(DEPLOY, "otel-collector", "config.yaml")


def load() -> tuple[dict, str]:
    with open(CONFIG) as f:
        text = f.read()
    return yaml.safe_load(text), text


def component_type(component_id: str) -> str:
    """``otlp_http/pyroscope`` -> ``otlp_http`` (a collector id is ``type[/name]``)."""
    return component_id.split("/", 1)[0]


def test_profiles_pipeline_references_defined_components():
    config, _ = load()
    pipelines = config["service"]["pipelines"]
    assert "profiles" in pipelines
    for name, pipeline in pipelines.items():
        assert pipeline["receivers"] and pipeline["exporters"], name
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{name}: {kind[:-1]} {component} is not defined"
    # Every defined component is used somewhere (an unused one is dead configuration).
    for kind in ("receivers", "processors", "exporters"):
        used = {c for p in pipelines.values() for c in p.get(kind, [])}
        assert set(config.get(kind) or {}) == used, kind


def test_otlp_receiver_listens_on_the_standard_ports():
    config, _ = load()
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")


def test_batching_and_export_to_pyroscope_over_otlp_http():
    config, text = load()
    profiles = config["service"]["pipelines"]["profiles"]
    # memory_limiter must come first to protect everything after it.
    assert profiles["processors"][0] == "memory_limiter"
    # The batch processor has no profiles support (its metadata.yaml lists traces, metrics and
    # logs): the collector refuses a profiles pipeline naming it. The exporter batches instead.
    assert not any(component_type(p) == "batch" for p in profiles["processors"])
    (exporter,) = profiles["exporters"]
    assert component_type(exporter) in ("otlp_http", "otlphttp")
    settings = config["exporters"][exporter]
    assert settings["endpoint"].startswith("http")
    assert settings["sending_queue"]["enabled"] and settings["sending_queue"]["batch"]
    # The signal is gated: the file must say how to run it.
    assert "--feature-gates=service.profilesSupport" in text


def test_agent_defaults_point_at_this_collector():
    # The chart's exporter endpoint uses the receiver's gRPC port and protocol.
    with open(os.path.join(DEPLOY, "helm", "pureprof", "values.yaml")) as f:
        values = yaml.safe_load(f)
    config, _ = load()
    grpc_port = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1]
    assert values["exporter"]["protocol"] == "grpc"
    assert values["exporter"]["endpoint"].rsplit(":", 1)[1] == grpc_port
