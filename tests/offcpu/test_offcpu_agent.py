"""The agent with --off-cpu on the real kernel: OTLP carries an off_cpu/nanoseconds profile
without a period (Pyroscope's off_cpu), the interval pprof files hold all sample types,
Pyroscope's ingest API gets the CPU profile only, and the status says what was blocked."""

from __future__ import annotations

import email
import gzip
import json
import os
import subprocess
import sys

import pytest

from pprof_encoder import parse
from tests.agent.receivers import OtlpHttpReceiver
from tests.profiler.workloads import start
from tests.support import require_tool

from . import workloads

pytestmark = pytest.mark.bpf


def test_agent_sends_off_cpu_over_otlp_and_to_files(tmp_path):
    require_tool("gcc")
    binary = workloads.build("blocking", str(tmp_path), *workloads.FRAME_POINTERS)
    work = start(binary, "4")
    out_dir = tmp_path / "profiles"
    status_file = tmp_path / "status.json"
    try:
        with OtlpHttpReceiver() as receiver, OtlpHttpReceiver(path="/ingest") as pyroscope:
            pyroscope.behaviour = lambda n: (204, {})
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "profiler",
                    "agent",
                    "--pid",
                    str(work.pid),
                    "--off-cpu",
                    "--interval",
                    "1",
                    "--duration",
                    "3",
                    "--otlp-endpoint",
                    receiver.endpoint,
                    "--output-dir",
                    str(out_dir),
                    "--pyroscope-url",
                    pyroscope.endpoint,
                    "--status-file",
                    str(status_file),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            _, stderr = proc.communicate(timeout=120)
            requests = list(receiver.requests)
            ingested = [ingested_pprof(headers, body) for _path, headers, body in pyroscope.raw]
    finally:
        work.kill()
    assert proc.returncode == 0, stderr
    off_cpu_ns = 0
    for request in requests:
        strings = request.dictionary.string_table
        for rp in request.resource_profiles:
            for profile in rp.scope_profiles[0].profiles:
                if strings[profile.sample_type.type_strindex] != "off_cpu":
                    continue
                assert strings[profile.sample_type.unit_strindex] == "nanoseconds"
                assert profile.period == 0  # Pyroscope: "off_cpu:nanoseconds::" is off_cpu
                off_cpu_ns += sum(v for s in profile.samples for v in s.values)
    # The workload's three blocking threads wait ~3 s each over the agent's 3 s.
    assert off_cpu_ns > 3e9, off_cpu_ns
    files = sorted(os.listdir(out_dir))
    assert files, stderr
    with open(out_dir / files[-1], "rb") as f:
        pprof = parse(gzip.decompress(f.read()))
    assert [vt.type for vt in pprof.sample_type] == ["samples", "cpu", "off_cpu", "wall"]
    # Pyroscope's ingest API: the CPU profile (the spinner's samples), no off-CPU sample.
    assert ingested, stderr
    for profile in ingested:
        assert [vt.type for vt in profile.sample_type] == ["samples", "cpu"]
        assert all(s.values[0] > 0 for s in profile.samples)
    assert sum(s.values[0] for p in ingested for s in p.samples) > 0
    status = json.loads(status_file.read_text())
    assert status["off_cpu_ns"] > 0 and status["off_cpu_dropped"]["lost"] == 0


def ingested_pprof(headers: dict[str, str], body: bytes):
    """The pprof of a Pyroscope ingest request (its multipart ``profile`` field)."""
    head = f"Content-Type: {headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body)
    for part in message.walk():
        if part.get_param("name", header="content-disposition") == "profile":
            return parse(gzip.decompress(part.get_payload(decode=True)))
    raise AssertionError("no profile field in the ingest request")
