"""Symbolized samples -> the one pprof profile every output renders from; its OTLP form.

Sample types: ``samples/count`` and ``cpu/nanoseconds`` (count × period), period type
``cpu/nanoseconds``, the period set from the sampling frequency; with off-CPU time also
``off_cpu/nanoseconds`` and ``wall/nanoseconds`` (see :mod:`.off_cpu`). Labels: pid, tid, thread
and process names, executable, container id and cgroup where known, ``thread.state`` on off-CPU
samples. Each frame's
:class:`~profiler.frames.model.Module` becomes one pprof ``Mapping`` (interned once); kernel
frames share the ``[kernel.kallsyms]`` mapping.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace

from pprof_encoder.builder import Frame as PFrame
from pprof_encoder.builder import ProfileBuilder
from pprof_encoder.profile import Label, Profile, Sample
from pprof_encoder.profile import Mapping as PMapping
from pprof_encoder.split import label_value, split

from .. import __version__
from ..frames.model import KERNEL, KERNEL_MODULE, Frame, Module, SymbolizedSample
from .off_cpu import STATE_LABEL, otlp_parts, sample_types, sample_values

COUNT_INDEX = 0  # the sample type that counts samples


def build_pprof(
    samples: Iterable[SymbolizedSample],
    *,
    freq: int,
    start_time: float,
    duration: float,
    comments: Iterable[str] = (),
    off_cpu: bool = False,
    default_sample_type: str = "cpu",
) -> Profile:
    """The pprof profile of ``samples`` (taken at ``freq`` Hz from ``start_time``).

    ``off_cpu``: off-CPU time was recorded (the off_cpu and wall sample types too).
    """
    period = round(1e9 / freq) if freq else 0
    builder = ProfileBuilder(
        sample_types=sample_types(off_cpu),
        period_type=("cpu", "nanoseconds"),
        period=period,
        time_nanos=int(start_time * 1e9),
        duration_nanos=int(duration * 1e9),
        comments=[f"pureprof: cpu-clock sampling at {freq} Hz", *comments],
        default_sample_type=default_sample_type,
    )
    samples = list(samples)
    # Every kernel frame (modules too) goes in one mapping, as perf names it, with the kernel's
    # build id: the one the core kernel's frames carry.
    kernel_build_id = next(
        (
            f.module.build_id
            for s in samples
            for f in s.frames
            if f.kind == KERNEL and f.module is not None and f.module.build_id
        ),
        "",
    )
    kernel = PMapping(filename=KERNEL_MODULE.path, build_id=kernel_build_id, has_functions=True)
    mappings: dict[int, PMapping] = {}  # id(Module) -> its pprof mapping
    frame_cache: dict[Frame, PFrame] = {}
    for sample in samples:
        frames = []
        for f in sample.frames:
            pf = frame_cache.get(f)
            if pf is None:
                mapping = kernel if f.kind == KERNEL else _pmapping(f.module, mappings)
                pf = frame_cache[f] = _pframe(f, mapping)
            frames.append(pf)
        labels = {k: v for k, v in sample.labels.items() if v != ""}
        builder.add_sample(frames, sample_values(sample, period, off_cpu), labels)
    return builder.build()


def _pmapping(module: Module | None, mappings: dict[int, PMapping]) -> PMapping | None:
    if module is None:
        return None
    mapping = mappings.get(id(module))
    if mapping is None:
        mapping = mappings[id(module)] = PMapping(
            start=module.start,
            limit=module.limit,
            offset=module.offset,
            filename=module.path,
            build_id=module.build_id,
            has_functions=True,
        )
    return mapping


def _pframe(frame: Frame, mapping: PMapping | None) -> PFrame:
    name = frame.function + (
        " [async]" if frame.is_async and "[async]" not in frame.function else ""
    )
    return PFrame(
        function=name,
        file=frame.file,
        line=frame.line,
        address=frame.address,
        mapping=mapping,
        system_name=frame.system_name or None,
        inlined=frame.inlined,
        start_line=frame.start_line,
    )


# -- OTLP ----------------------------------------------------------------------------------


def host_resource_attributes() -> dict[str, str | int]:
    """Attributes every resource of this host shares: ``host.name``, and ``k8s.node.name``
    from the Kubernetes downward API (``NODE_NAME``)."""
    import socket

    attrs: dict[str, str | int] = {"host.name": socket.gethostname()}
    node = os.environ.get("NODE_NAME")
    if node:
        attrs["k8s.node.name"] = attrs["host.name"] = node
    return attrs


def sample_labels(sample: Sample) -> dict[str, str | int]:
    """A pprof sample's labels as a dict (numbers as ints)."""
    return {lb.key: (lb.num if lb.is_num else lb.str) for lb in sample.labels}


def process_resource(
    labels: Mapping[str, str | int], base: Mapping[str, str | int], service_name: str | None
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


def _otlp_sample(sample: Sample) -> Sample:
    """The sample with OpenTelemetry semantic-convention attributes (the thread's)."""
    labels = sample_labels(sample)
    thread = [Label("thread.name", str(labels["thread_name"]))] if labels.get("thread_name") else []
    tid = label_value(sample, "tid")
    thread.append(Label("thread.id", num=int(tid or 0), is_num=True))
    if labels.get(STATE_LABEL):
        thread.append(Label(STATE_LABEL, str(labels[STATE_LABEL])))
    return replace(sample, labels=tuple(thread))


def otlp_resources(
    profile: Profile, base: Mapping[str, str | int], service_name: str | None = None
) -> list:
    """One OTLP resource per process (the profile split by its ``pid`` label); with off-CPU
    time, a CPU and an off-CPU profile per process (:func:`.off_cpu.otlp_parts`)."""
    from pprof_encoder.otlp import ResourceProfiles

    parts = split(profile, lambda s: int(label_value(s, "pid") or 0))
    resources = []
    for pid in sorted(parts):
        part = parts[pid]
        attrs = process_resource(sample_labels(part.samples[0]), base, service_name)
        part.samples = [_otlp_sample(s) for s in part.samples]
        resources.append(
            ResourceProfiles(
                attrs, otlp_parts(part), scope_name="pureprof", scope_version=__version__
            )
        )
    return resources


def build_otlp(
    profile: Profile, resource_attributes: Mapping[str, str | int], service_name: str | None = None
) -> bytes:
    """An OTLP ``ExportProfilesServiceRequest`` of ``profile``: one resource per process."""
    from pprof_encoder.otlp import encode_request

    return encode_request(otlp_resources(profile, resource_attributes, service_name))


def split_by_service(profile: Profile, service_name: str | None) -> dict[str, Profile]:
    """The profile split by ``service.name`` (as :func:`process_resource` infers it)."""
    parts = split(
        profile,
        lambda s: str(process_resource(sample_labels(s), {}, service_name)["service.name"]),
    )
    return {str(k): v for k, v in parts.items()}
