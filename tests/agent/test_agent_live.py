"""The continuous agent on the real kernel, exporting to OTLP receivers on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import bpf_objects_held_by

from .receivers import (
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    free_port,
    resource_attributes,
    total_samples,
)

pytestmark = pytest.mark.bpf


def agent(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "profiler", "agent", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def busy(seconds: float) -> subprocess.Popen:
    """A CPU-bound child so every interval has samples."""
    code = f"import time\nt=time.time()\nwhile time.time()-t<{seconds}: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def test_agent_delivers_intervals_over_otlp_http_with_service_name():
    load = busy(9)
    try:
        with OtlpHttpReceiver() as receiver:
            proc = agent(
                "--interval",
                "2",
                "--duration",
                "7",
                env={"OTLP_ENDPOINT": receiver.endpoint, "SERVICE_NAME": ""},
            )
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
            requests = list(receiver.requests)
    finally:
        load.kill()
        load.wait()
    assert len(requests) >= 3, stderr
    with_samples = [r for r in requests if total_samples(r) > 0]
    assert len(with_samples) >= 3
    for request in with_samples:
        for attrs in resource_attributes(request):
            assert attrs["service.name"]
            assert attrs["host.name"]
            assert attrs["process.pid"] > 0
    # The busy child is one of the resources, named after its executable.
    names = {a["service.name"] for r in with_samples for a in resource_attributes(r)}
    assert any(n.startswith("python") for n in names), names
    assert "interval 1:" in stderr and "samples" in stderr


def test_agent_started_before_its_receiver_loses_no_interval(tmp_path):
    port = free_port()
    status = tmp_path / "status.json"
    load = busy(12)
    proc = agent(
        "--interval",
        "1",
        "--duration",
        "6",
        "--status-file",
        str(status),
        "--otlp-endpoint",
        f"http://127.0.0.1:{port}",
        "--flush-timeout",
        "15",
    )
    try:
        # The receiver stays down for five seconds and at least until the agent has failed to
        # deliver (on a loaded machine the agent may need a while to start).
        started = time.monotonic()
        while time.monotonic() - started < 30:
            report = json.loads(status.read_text()) if status.exists() else {}
            retried = report.get("exporters", {}).get("otlp", {}).get("retries", 0)
            if retried >= 1 and time.monotonic() - started >= 5:
                break
            time.sleep(0.1)
        with OtlpHttpReceiver(port=port) as receiver:
            _, stderr = proc.communicate(timeout=60)
            requests = list(receiver.requests)
    finally:
        load.kill()
        load.wait()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    report = json.loads(status.read_text())
    intervals = report["interval"]
    assert intervals >= 6
    assert len(requests) == intervals, stderr  # every interval delivered, exactly once
    assert report["exporters"]["otlp"]["retries"] >= 1
    assert report["exporters"]["otlp"]["dropped_overflow"] == 0


def test_agent_over_grpc_and_sigterm_flushes_and_unloads():
    with OtlpGrpcReceiver() as receiver:
        proc = agent(
            "--interval",
            "30",
            "--otlp-protocol",
            "grpc",
            "--otlp-endpoint",
            receiver.endpoint,
            "--service-name",
            "node-agent",
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any(
                "pp_sampler" in h for h in bpf_objects_held_by(proc.pid)
            ):
                time.sleep(0.1)
            time.sleep(1.5)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, stderr
        # The interval was cut short by SIGTERM, and still delivered.
        assert len(receiver.requests) == 1, stderr
        attrs = resource_attributes(receiver.requests[0])
        assert attrs and all(a["service.name"] == "node-agent" for a in attrs)
