"""The continuous agent: one profile per interval, handed to exporters; sampling never waits.

Each interval's profile is encoded and handed to one :class:`~profiler.export.delivery.Delivery`
per exporter (bounded queue, retries, optional spill directory). A stop (SIGTERM) flushes what
was collected within ``flush_timeout`` and exits with nothing left loaded.

Grouping: OTLP requests carry one resource per process (``service.name`` from the options, else
the process's executable name); Pyroscope gets one pprof per service per interval. Every payload
is rendered from the interval's one pprof profile.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import resource
import socket
import threading
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from ..export.delivery import Delivery, RetryPolicy
from ..output.files import write_atomically
from ..output.pprof import host_resource_attributes
from .options import AgentOptions

if TYPE_CHECKING:
    from ..output.collected import CollectedProfile
    from ..session import Session

log = logging.getLogger("profiler.agent")


def agent_identity() -> dict[str, str]:
    """Who this agent is (for its status): host, and its own pod from the downward API."""
    ident = {"host": socket.gethostname()}
    for env, key in (("NODE_NAME", "node"), ("POD_NAME", "pod"), ("POD_NAMESPACE", "namespace")):
        if os.environ.get(env):
            ident[key] = os.environ[env]
    return ident


def make_deliveries(options: AgentOptions) -> dict[str, Delivery]:
    """One Delivery per configured exporter."""
    deliveries: dict[str, Delivery] = {}

    def spill(name: str) -> str | None:
        return os.path.join(options.spill_dir, name) if options.spill_dir else None

    common = dict(
        max_queue_bytes=options.max_queue_bytes,
        max_spill_bytes=options.max_spill_bytes,
        policy=RetryPolicy(),
    )
    otlp = options.otlp
    if otlp is not None:
        if otlp.protocol == "grpc":
            from ..export.otlp_grpc import OtlpGrpcExporter

            exporter: object = OtlpGrpcExporter(
                otlp.endpoint,
                headers=dict(otlp.headers),
                compression=otlp.compression,
                ca_file=otlp.ca_file,
            )
        else:
            from ..export.otlp_http import OtlpHttpExporter

            exporter = OtlpHttpExporter(
                otlp.endpoint,
                path=otlp.path,
                headers=dict(otlp.headers),
                compression=otlp.compression,
                ca_file=otlp.ca_file,
            )
        deliveries["otlp"] = Delivery("otlp", exporter, spill_dir=spill("otlp"), **common)
    if options.pyroscope_url:
        from ..export.pyroscope import PyroscopeExporter

        exporter = PyroscopeExporter(options.pyroscope_url, tenant=options.pyroscope_tenant)
        deliveries["pyroscope"] = Delivery(
            "pyroscope", exporter, spill_dir=spill("pyroscope"), **common
        )
    if options.output_dir:
        from ..export.files import DirectoryExporter

        exporter = DirectoryExporter(options.output_dir, max_bytes=options.output_dir_max_bytes)
        deliveries["files"] = Delivery("files", exporter, **common)
    return deliveries


class Agent:
    """Runs a session and ships one profile per interval to every exporter."""

    def __init__(self, options: AgentOptions, session: Session | None = None) -> None:
        self.options = options
        self.base = host_resource_attributes()
        if session is None:
            from ..session import Session

            session = Session(options.session)
        self.session = session
        self.deliveries = make_deliveries(options)
        self.intervals = 0
        self._cpu0 = _cpu_seconds()
        self._t0 = time.monotonic()

    def export_interval(self) -> dict:
        """Take this interval's profile, hand it to every exporter, return the status."""
        profile = self.session.take_profile()
        self.intervals += 1
        until = profile.start_time + profile.duration
        if "otlp" in self.deliveries:
            data = profile.to_otlp(self.base, self.options.service_name)
            self.deliveries["otlp"].submit(data, {"from": profile.start_time, "until": until})
        if "files" in self.deliveries:
            data = gzip.compress(profile.to_pprof().encode(), mtime=0)
            self.deliveries["files"].submit(data, {"until": until})
        if "pyroscope" in self.deliveries:
            self._submit_pyroscope(profile, until)
        return self.status(profile)

    def _submit_pyroscope(self, profile: CollectedProfile, until: float) -> None:
        from ..output.off_cpu import cpu_part
        from ..output.pprof import split_by_service

        # Pyroscope's ingest API gets the CPU profile (its .cpu series); off-CPU time reaches
        # Pyroscope through OTLP (the off_cpu profile type).
        cpu = cpu_part(profile.to_pprof())
        if cpu is None:
            return
        parts = split_by_service(cpu, self.options.service_name)
        for service, part in sorted(parts.items()):
            data = gzip.compress(part.encode(), mtime=0)
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

    def status(self, profile: CollectedProfile) -> dict:
        """The self-observability record of the last interval."""
        elapsed = max(1e-9, time.monotonic() - self._t0)
        ks = profile.kernel_stats
        off_cpu = {}
        if profile.off_cpu is not None:
            from ..output.off_cpu import off_cpu_status

            off_cpu = off_cpu_status(profile.to_pprof(), profile.off_cpu)
        return {
            "agent": agent_identity(),
            "interval": self.intervals,
            "samples": profile.total,
            "lost": ks.lost,
            "incomplete_stacks": ks.incomplete,
            "agent_cpu_percent": round(100 * (_cpu_seconds() - self._cpu0) / elapsed, 2),
            "rss_mb": round(_max_rss_mb(), 1),
            "exporters": {name: asdict(d.stats) for name, d in self.deliveries.items()},
            **off_cpu,
        }

    def run(self, stop: threading.Event) -> int:
        """Sample until ``stop`` (or the duration), exporting every interval; then flush."""
        options = self.options
        try:
            if stop.is_set():
                return 0
            self.session.start()
            deadline = time.monotonic() + options.duration if options.duration else None
            next_at = time.monotonic() + options.interval
            while not stop.is_set():
                now = time.monotonic()
                wake = next_at if deadline is None else min(next_at, deadline)
                if stop.wait(max(0.0, wake - now)):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                # After an interval that ran long, start the next one from now (no burst).
                next_at = max(next_at + options.interval, time.monotonic() + options.interval / 2)
                self._report(self.export_interval())
            self.session.disable()
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
        if self.options.status_file:
            data = json.dumps(status, indent=1, sort_keys=True).encode()
            try:
                write_atomically(self.options.status_file, data)
            except OSError as exc:  # the status is a report: failing to write it stops nothing
                log.warning("cannot write the status file %s: %s", self.options.status_file, exc)

    def close(self) -> None:
        """Deliver what is queued within the flush timeout (spilling the rest), then stop."""
        deadline = time.monotonic() + self.options.flush_timeout
        for delivery in self.deliveries.values():
            delivery.close(timeout=max(0.0, deadline - time.monotonic()))


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
