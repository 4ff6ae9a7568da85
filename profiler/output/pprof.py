"""Collected profile -> pprof (and OTLP) through :mod:`pprof_encoder`.

Sample types: ``samples/count`` and ``cpu/nanoseconds`` (count × period), period type
``cpu/nanoseconds``, the period set from the sampling frequency. Labels: pid, tid, thread and
process names, container id and cgroup where known.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pprof_encoder.builder import Frame as PFrame
from pprof_encoder.builder import ProfileBuilder
from pprof_encoder.profile import Mapping as PMapping

from .. import __version__
from ..frames.model import KERNEL, Frame, SymbolizedSample

if TYPE_CHECKING:
    from .collected import CollectedProfile

KERNEL_MAPPING = PMapping(filename="[kernel.kallsyms]", has_functions=True)


def _pframe(frame: Frame, mappings: dict[tuple, PMapping]) -> PFrame:
    if frame.kind == KERNEL:
        mapping = KERNEL_MAPPING
    elif frame.module:
        key = (
            frame.mapping_start,
            frame.mapping_limit,
            frame.mapping_offset,
            frame.module,
            frame.build_id,
        )
        mapping = mappings.get(key)
        if mapping is None:
            mapping = mappings[key] = PMapping(
                start=frame.mapping_start,
                limit=frame.mapping_limit,
                offset=frame.mapping_offset,
                filename=frame.module,
                build_id=frame.build_id,
                has_functions=True,
            )
    else:
        mapping = None
    name = frame.function + (
        " [async]" if frame.is_async and "[async]" not in frame.function else ""
    )
    return PFrame(
        function=name,
        file=frame.file,
        line=frame.line,
        address=frame.address,
        mapping=mapping,
        inlined=frame.inlined,
    )


def build_pprof(
    profile: CollectedProfile,
    samples: list[SymbolizedSample] | None = None,
    labels_of: Callable[[SymbolizedSample], dict] | None = None,
):
    """A :class:`pprof_encoder.profile.Profile` of ``profile`` (or of some of its samples)."""
    period = profile.period_ns
    builder = ProfileBuilder(
        sample_types=[("samples", "count"), ("cpu", "nanoseconds")],
        period_type=("cpu", "nanoseconds"),
        period=period,
        time_nanos=int(profile.start_time * 1e9),
        duration_nanos=int(profile.duration * 1e9),
        comments=[f"pureprof: cpu-clock sampling at {profile.freq} Hz"],
        default_sample_type="cpu",
    )
    mappings: dict[tuple, PMapping] = {}
    frame_cache: dict[Frame, PFrame] = {}
    for sample in profile.samples if samples is None else samples:
        frames = []
        for f in sample.frames:
            pf = frame_cache.get(f)
            if pf is None:
                pf = frame_cache[f] = _pframe(f, mappings)
            frames.append(pf)
        labels = labels_of(sample) if labels_of else sample.labels
        labels = {k: v for k, v in labels.items() if v != ""}
        builder.add_sample(frames, [sample.count, sample.count * period], labels)
    return builder.build()


def _otlp_sample_attributes(sample: SymbolizedSample) -> dict[str, str | int]:
    """Sample-level attributes with OpenTelemetry semantic-convention names."""
    return {
        "thread.name": sample.labels.get("thread_name", ""),
        "thread.id": sample.labels.get("tid", 0),
    }


def process_resource(
    labels: dict, base: dict[str, str | int], service_name: str | None
) -> dict[str, str | int]:
    """Resource attributes of one process (semantic conventions), on top of ``base``."""
    attrs: dict[str, str | int] = dict(base)
    attrs["process.pid"] = labels.get("pid", 0)
    exe = str(labels.get("executable", ""))
    name = str(labels.get("process_name", ""))
    if exe:
        attrs["process.executable.path"] = exe
        attrs["process.executable.name"] = os.path.basename(exe)
    elif name:
        attrs["process.executable.name"] = name
    if labels.get("container_id"):
        attrs["container.id"] = labels["container_id"]
    if labels.get("pod_uid"):
        attrs["k8s.pod.uid"] = labels["pod_uid"]
    attrs["service.name"] = service_name or str(
        attrs.get("service.name") or attrs.get("process.executable.name") or "unknown_service"
    )
    return attrs


def otlp_resources(
    profile: CollectedProfile, base: dict[str, str | int], service_name: str | None = None
) -> list:
    """One OTLP resource per process, each with its profile (samples grouped by pid)."""
    from pprof_encoder.otlp import ResourceProfiles

    by_pid: dict[int, list[SymbolizedSample]] = {}
    for sample in profile.samples:
        by_pid.setdefault(int(sample.labels.get("pid", 0)), []).append(sample)
    resources = []
    for pid in sorted(by_pid):
        samples = by_pid[pid]
        attrs = process_resource(samples[0].labels, base, service_name)
        pprof = build_pprof(profile, samples, _otlp_sample_attributes)
        resources.append(
            ResourceProfiles(attrs, [pprof], scope_name="pureprof", scope_version=__version__)
        )
    return resources


def build_otlp(
    profile: CollectedProfile,
    resource_attributes: dict[str, str | int],
    service_name: str | None = None,
) -> bytes:
    """An OTLP ``ExportProfilesServiceRequest`` of ``profile``: one resource per process."""
    from pprof_encoder.otlp import encode_request

    return encode_request(otlp_resources(profile, resource_attributes, service_name))
