"""The CLI's OTLP file carries the resource the agent sends: host.name, k8s.node.name from
NODE_NAME, one resource per process, and the profile's title (no root: built samples)."""

from __future__ import annotations

import socket

from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
)

from profiler.agent.agent import Agent
from profiler.agent.options import AgentOptions
from profiler.frames.model import Frame, Module, SymbolizedSample
from profiler.output.collected import CollectedProfile
from profiler.output.title import ProfileTitle

APP = Module("/srv/bin/api", build_id="ab12", start=0x1000, limit=0x9000)


def profile() -> CollectedProfile:
    def sample(pid: int, name: str, count: int) -> SymbolizedSample:
        frames = (
            Frame("handle", address=0x1200, module=APP),
            Frame("main", address=0x1100, module=APP),
        )
        labels = {"pid": pid, "tid": pid, "process_name": name, "executable": "/srv/bin/api"}
        return SymbolizedSample(frames, count, labels)

    return CollectedProfile(
        samples=[sample(10, "api", 5), sample(11, "api", 3)],
        freq=99,
        start_time=1_700_000_000.0,
        duration=5.0,
        title=ProfileTitle(command="./api --port 80", pids=(10, 11), host="node-a"),
    )


def resources(data: bytes) -> list[dict]:
    req = ExportProfilesServiceRequest()
    req.ParseFromString(data)
    out = []
    for rp in req.resource_profiles:
        attrs = {}
        for kv in rp.resource.attributes:
            attrs[kv.key] = getattr(kv.value, kv.value.WhichOneof("value"))
        out.append(attrs)
    return out


class NoSession:
    """The agent without a kernel session: only its resource is used here."""

    def close(self) -> None:
        pass


def test_cli_otlp_has_the_hosts_attributes_and_a_resource_per_process(monkeypatch):
    monkeypatch.delenv("NODE_NAME", raising=False)
    got = resources(profile().encode("otlp"))
    assert [r["process.pid"] for r in got] == [10, 11]
    for r in got:
        assert r["host.name"] == socket.gethostname()
        assert r["service.name"] == "api" and r["process.executable.path"] == "/srv/bin/api"
        assert "k8s.node.name" not in r


def test_node_name_gives_k8s_node_name_as_the_agent_sends(monkeypatch):
    monkeypatch.setenv("NODE_NAME", "worker-3")
    cli = profile().encode("otlp")
    for r in resources(cli):
        assert r["k8s.node.name"] == r["host.name"] == "worker-3"
    agent = Agent(AgentOptions(), session=NoSession())  # type: ignore[arg-type]
    try:
        assert profile().to_otlp(agent.base, agent.options.service_name) == cli
    finally:
        agent.close()


def test_the_title_rides_along_as_pprof_comments():
    req = ExportProfilesServiceRequest()
    req.ParseFromString(profile().encode("otlp"))
    strings = req.dictionary.string_table
    prof = req.resource_profiles[0].scope_profiles[0].profiles[0]
    comments = {}
    for i in prof.attribute_indices:
        kv = req.dictionary.attribute_table[i]
        comments[strings[kv.key_strindex]] = [v.string_value for v in kv.value.array_value.values]
    assert 'pureprof.title.command: "./api --port 80"' in comments["pprof.profile.comment"]
