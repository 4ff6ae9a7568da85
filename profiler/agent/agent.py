"""``python -m profiler agent``: always-on profiling, one profile per interval, sent to exporters.

Sampling never waits on export: each interval's profile is encoded and handed to one
:class:`~profiler.export.delivery.Delivery` per exporter (bounded queue, retries, optional spill
directory). SIGTERM (or SIGINT) flushes what was collected within ``--flush-timeout`` and exits
with nothing left loaded.

Configuration: flags, else environment variables (``SAMPLE_FREQ``, ``OTLP_ENDPOINT``,
``OTLP_PROTOCOL`` http|grpc, ``OTLP_HEADERS``, ``OTLP_COMPRESSION``, ``OTLP_PATH``,
``OTLP_CA_FILE``, ``SERVICE_NAME``, ``PYROSCOPE_URL``, ``PYROSCOPE_TENANT``, ``OUTPUT_DIR``,
``SPILL_DIR``, ``INTERVAL``, ``STATUS_FILE``; Kubernetes downward API: ``NODE_NAME`` (the
resources' ``k8s.node.name``), ``POD_NAME`` and ``POD_NAMESPACE`` (the agent's own identity, in its
status)). Flags win.

Grouping: OTLP requests carry one resource per process (``service.name`` from ``--service-name``,
else the process's executable name); Pyroscope gets one pprof per service per interval.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import resource
import socket
import sys
import threading
import time
from dataclasses import asdict

from ..cli.profile_command import _StopOnSignals, add_sampling_flags, session_options
from ..export.delivery import Delivery, RetryPolicy

log = logging.getLogger("profiler.agent")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def build_parser() -> argparse.ArgumentParser:
    """The agent's flags (each defaults to its environment variable)."""
    p = argparse.ArgumentParser(prog="python -m profiler agent", description=__doc__.split("\n")[0])
    add_sampling_flags(p)
    p.set_defaults(freq=int(_env("SAMPLE_FREQ", "99")))
    p.add_argument(
        "--interval",
        type=float,
        default=float(_env("INTERVAL", "10")),
        help="seconds per profile (10)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until SIGTERM)",
    )
    p.add_argument(
        "--otlp-endpoint",
        default=_env("OTLP_ENDPOINT"),
        help="OTLP collector, e.g. http://otel-collector:4318 (http) or :4317 (grpc)",
    )
    p.add_argument(
        "--otlp-protocol", choices=("http", "grpc"), default=_env("OTLP_PROTOCOL", "http")
    )
    p.add_argument(
        "--otlp-path",
        default=_env("OTLP_PATH", "/v1development/profiles"),
        help="OTLP/HTTP path (/v1development/profiles)",
    )
    p.add_argument(
        "--otlp-headers",
        default=_env("OTLP_HEADERS", ""),
        help="extra headers k=v,k2=v2 (e.g. authorization)",
    )
    p.add_argument(
        "--otlp-compression", choices=("gzip", "none"), default=_env("OTLP_COMPRESSION", "gzip")
    )
    p.add_argument("--otlp-ca-file", default=_env("OTLP_CA_FILE"), help="CA bundle for TLS")
    p.add_argument("--pyroscope-url", default=_env("PYROSCOPE_URL"))
    p.add_argument("--pyroscope-tenant", default=_env("PYROSCOPE_TENANT"))
    p.add_argument(
        "--output-dir",
        default=_env("OUTPUT_DIR"),
        help="also write each interval's pprof into this directory",
    )
    p.add_argument("--output-dir-max-bytes", type=int, default=512 << 20)
    p.add_argument(
        "--service-name",
        default=_env("SERVICE_NAME"),
        help="service.name of every resource (default: inferred per process)",
    )
    p.add_argument(
        "--spill-dir",
        default=_env("SPILL_DIR"),
        help="keep undelivered payloads on disk here (survives restarts)",
    )
    p.add_argument("--max-queue-bytes", type=int, default=64 << 20)
    p.add_argument("--max-spill-bytes", type=int, default=256 << 20)
    p.add_argument(
        "--flush-timeout",
        type=float,
        default=5.0,
        help="seconds to deliver what is queued at SIGTERM (5)",
    )
    p.add_argument(
        "--status-file",
        default=_env("STATUS_FILE"),
        help="write the agent's status (JSON) here after every interval",
    )
    return p


def base_resource_attributes() -> dict[str, str | int]:
    """Attributes every resource shares: the host, and the node from the downward API.

    (The agent's own POD_NAME / POD_NAMESPACE name the agent, not the profiled processes: those
    are identified by ``container.id`` and ``k8s.pod.uid`` from their cgroup.)
    """
    attrs: dict[str, str | int] = {"host.name": socket.gethostname()}
    if _env("NODE_NAME"):
        attrs["k8s.node.name"] = attrs["host.name"] = os.environ["NODE_NAME"]
    return attrs


def agent_identity() -> dict[str, str]:
    """Who this agent is (for its status): host, and its own pod from the downward API."""
    ident = {"host": socket.gethostname()}
    for env, key in (("NODE_NAME", "node"), ("POD_NAME", "pod"), ("POD_NAMESPACE", "namespace")):
        if _env(env):
            ident[key] = os.environ[env]
    return ident


def make_deliveries(args: argparse.Namespace) -> dict[str, Delivery]:
    """One Delivery per configured exporter."""
    from ..export.otlp_http import parse_headers

    deliveries: dict[str, Delivery] = {}

    def spill(name: str) -> str | None:
        return os.path.join(args.spill_dir, name) if args.spill_dir else None

    common = dict(
        max_queue_bytes=args.max_queue_bytes,
        max_spill_bytes=args.max_spill_bytes,
        policy=RetryPolicy(),
    )
    headers = parse_headers(args.otlp_headers or "")
    if args.otlp_endpoint:
        if args.otlp_protocol == "grpc":
            from ..export.otlp_grpc import OtlpGrpcExporter

            exporter = OtlpGrpcExporter(
                args.otlp_endpoint,
                headers=headers,
                compression=args.otlp_compression,
                ca_file=args.otlp_ca_file,
            )
        else:
            from ..export.otlp_http import OtlpHttpExporter

            exporter = OtlpHttpExporter(
                args.otlp_endpoint,
                path=args.otlp_path,
                headers=headers,
                compression=args.otlp_compression,
                ca_file=args.otlp_ca_file,
            )
        deliveries["otlp"] = Delivery("otlp", exporter, spill_dir=spill("otlp"), **common)
    if args.pyroscope_url:
        from ..export.pyroscope import PyroscopeExporter

        exporter = PyroscopeExporter(args.pyroscope_url, tenant=args.pyroscope_tenant)
        deliveries["pyroscope"] = Delivery(
            "pyroscope", exporter, spill_dir=spill("pyroscope"), **common
        )
    if args.output_dir:
        from ..export.files import DirectoryExporter

        exporter = DirectoryExporter(args.output_dir, max_bytes=args.output_dir_max_bytes)
        deliveries["files"] = Delivery("files", exporter, **common)
    return deliveries


class Agent:
    """Runs a session and ships one profile per interval to every exporter."""

    def __init__(self, args: argparse.Namespace, session=None) -> None:
        self.args = args
        self.base = base_resource_attributes()
        self.deliveries = make_deliveries(args)
        if session is None:
            from ..session.session import Session

            session = Session(session_options(args))
        self.session = session
        self.intervals = 0
        self._cpu0 = _cpu_seconds()
        self._t0 = time.monotonic()

    def export_interval(self) -> dict:
        """Take this interval's profile, hand it to every exporter, return the status."""
        profile = self.session.take_profile()
        self.intervals += 1
        from ..output.pprof import build_otlp, build_pprof

        until = profile.start_time + profile.duration
        if "otlp" in self.deliveries:
            data = build_otlp(profile, self.base, self.args.service_name)
            self.deliveries["otlp"].submit(data, {"from": profile.start_time, "until": until})
        if "files" in self.deliveries:
            data = gzip.compress(build_pprof(profile).encode(), mtime=0)
            self.deliveries["files"].submit(data, {"until": until})
        if "pyroscope" in self.deliveries:
            self._submit_pyroscope(profile, until)
        return self.status(profile)

    def _submit_pyroscope(self, profile, until: float) -> None:
        from ..output.pprof import build_pprof, process_resource

        by_service: dict[str, list] = {}
        for sample in profile.samples:
            attrs = process_resource(sample.labels, {}, self.args.service_name)
            by_service.setdefault(str(attrs["service.name"]), []).append(sample)
        for service, samples in sorted(by_service.items()):
            data = gzip.compress(build_pprof(profile, samples).encode(), mtime=0)
            labels = {"hostname": str(self.base.get("host.name", ""))}
            self.deliveries["pyroscope"].submit(
                data,
                {
                    "name": service,
                    "labels": labels,
                    "from": profile.start_time,
                    "until": until,
                    "sample_rate": profile.freq,
                },
            )

    def status(self, profile) -> dict:
        """The self-observability record of the last interval."""
        elapsed = max(1e-9, time.monotonic() - self._t0)
        ks = profile.kernel_stats
        return {
            "agent": agent_identity(),
            "interval": self.intervals,
            "samples": profile.total,
            "lost": ks.lost,
            "incomplete_stacks": ks.incomplete,
            "agent_cpu_percent": round(100 * (_cpu_seconds() - self._cpu0) / elapsed, 2),
            "rss_mb": round(_max_rss_mb(), 1),
            "exporters": {name: asdict(d.stats) for name, d in self.deliveries.items()},
        }

    def run(self, stop: threading.Event) -> int:
        """Sample until ``stop`` (or --duration), exporting every interval; then flush."""
        args = self.args
        self.session.start()
        deadline = time.monotonic() + args.duration if args.duration else None
        next_at = time.monotonic() + args.interval
        try:
            while not stop.is_set():
                now = time.monotonic()
                wake = next_at if deadline is None else min(next_at, deadline)
                if stop.wait(max(0.0, wake - now)):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                # After an interval that ran long, start the next one from now (no burst).
                next_at = max(next_at + args.interval, time.monotonic() + args.interval / 2)
                self._report(self.export_interval())
            self._report(self.export_interval())  # what was collected since the last interval
        finally:
            self.session.close()
            self.close()
        return 0

    def _report(self, status: dict) -> None:
        queue = sum(e["queued"] for e in status["exporters"].values())
        latency = max((e["last_latency_s"] for e in status["exporters"].values()), default=0.0)
        log.info(
            "interval %d: %d samples, lost %d, queue %d, export latency %.3f s, cpu %.2f%%, "
            "rss %.1f MB",
            status["interval"],
            status["samples"],
            status["lost"],
            queue,
            latency,
            status["agent_cpu_percent"],
            status["rss_mb"],
        )
        if self.args.status_file:
            tmp = self.args.status_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(status, f, indent=1, sort_keys=True)
            os.replace(tmp, self.args.status_file)

    def close(self) -> None:
        """Deliver what is queued within the flush timeout (spilling the rest), then stop."""
        deadline = time.monotonic() + self.args.flush_timeout
        for delivery in self.deliveries.values():
            delivery.close(timeout=max(0.0, deadline - time.monotonic()))
            closer = getattr(delivery._send, "close", None)
            if closer is not None:
                closer()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _max_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM). Not ru_maxrss: that one keeps the peak of the
    process image before exec, e.g. of a large parent that spawned the agent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m profiler agent``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    args = build_parser().parse_args(argv)
    from pybpf.errors import BPFError

    try:
        agent = Agent(args)
    except (BPFError, OSError, RuntimeError, ValueError) as exc:
        print(f"profiler agent: {exc}", file=sys.stderr)
        return 1
    if not agent.deliveries:
        log.warning(
            "no exporter configured (OTLP_ENDPOINT, PYROSCOPE_URL or --output-dir): "
            "profiles are only logged"
        )
    with _StopOnSignals() as stop:
        try:
            return agent.run(stop)
        except (BPFError, OSError) as exc:
            print(f"profiler agent: {exc}", file=sys.stderr)
            return 1
