"""Kernel feature probes: each feature is checked once with a tiny program or map, and cached.

```python
from pybpf import features
features.have("helper:get_stackid")      # True / False
features.require("map_type:ringbuf")     # raises FeatureMissingError(feature, since="5.8")
for result in features.probe_all(): print(result)
```

A missing feature answers ``False`` (``require`` raises :class:`FeatureMissingError` naming the
kernel version that has it). Missing privileges are not a missing feature: they raise
:class:`MissingPrivilegesError` and are not cached. Every probe closes what it opens.
"""

from __future__ import annotations

import dataclasses
import errno as errno_codes
import os
import platform
from collections.abc import Callable

from . import bpf_commands as cmds
from .bpf_attr import ffi
from .errors import BPFError, FeatureMissingError, MissingPrivilegesError, VerifierError
from .maps import MapSpec, MapType
from .programs import ATTACH_TYPE_PERF_EVENT, ProgramSpec, ProgramType


@dataclasses.dataclass(frozen=True)
class FeatureResult:
    """The answer of one probe: ``available``, the kernel ``since`` which it exists, a detail."""

    name: str
    kind: str
    available: bool
    since: str
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class _Probe:
    name: str
    kind: str
    since: str
    check: Callable[[], tuple[bool, str]]


# ---- the individual probes ----------------------------------------------------------------------


def _kernel_version_code() -> int:
    # Kprobe programs needed kern_version == LINUX_VERSION_CODE before 5.0.
    parts = [*platform.release().split("-")[0].split("."), "0", "0"][:3]
    major, minor, patch = (int("".join(c for c in p if c.isdigit()) or 0) for p in parts)
    return (major << 16) + (minor << 8) + min(patch, 255)


def _return_zero():
    from .asm import R0, Assembler

    return Assembler().mov(R0, 0).exit()


# Program types the kernel only loads with particular flags (BPF_F_SLEEPABLE for syscall).
_PROGRAM_FLAGS = {ProgramType.SYSCALL: 1 << 4}


def _probe_program_type(prog_type: ProgramType) -> tuple[bool, str]:
    spec = ProgramSpec(
        "probe_prog",
        prog_type,
        _return_zero(),
        flags=_PROGRAM_FLAGS.get(prog_type, 0),
        kern_version=_kernel_version_code(),
    )
    try:
        with spec.load():
            return True, ""
    except MissingPrivilegesError:
        raise
    except BPFError as exc:
        if exc.errno in (errno_codes.EINVAL, errno_codes.E2BIG, errno_codes.EACCES):
            return False, f"load answered {errno_codes.errorcode.get(exc.errno, exc.errno)}"
        raise


_MAP_PROBE_SHAPES: dict[MapType, tuple[int, int, int]] = {
    MapType.RINGBUF: (0, 0, os.sysconf("SC_PAGE_SIZE")),
    MapType.PERF_EVENT_ARRAY: (4, 4, 1),
    MapType.PROG_ARRAY: (4, 4, 1),
    MapType.STACK_TRACE: (4, 8 * 4, 1),
}


def _probe_map_type(map_type: MapType) -> tuple[bool, str]:
    key_size, value_size, max_entries = _MAP_PROBE_SHAPES.get(map_type, (4, 8, 1))
    spec = MapSpec("probe_map", map_type, key_size, value_size, max_entries)
    try:
        with spec.create():
            return True, ""
    except MissingPrivilegesError:
        raise
    except BPFError as exc:
        if exc.errno in (errno_codes.EINVAL, errno_codes.E2BIG):
            return False, f"create answered {errno_codes.errorcode.get(exc.errno, exc.errno)}"
        raise


# What the verifier says when a helper does not exist or is not allowed for a program type.
_UNKNOWN_HELPER = ("invalid func", "unknown func", "cannot use helper", "not supported")


def _probe_helper(helper: str, prog_type: ProgramType) -> tuple[bool, str]:
    """Call the helper with uninitialised arguments: a kernel that knows it complains about the
    arguments ("R1 !read_ok"), one that does not complains about the function."""
    from .asm import R0, Assembler

    a = Assembler().call(helper).mov(R0, 0).exit()
    spec = ProgramSpec("probe_helper", prog_type, a, kern_version=_kernel_version_code())
    try:
        with spec.load(log_level=1):
            return True, ""
    except VerifierError as exc:
        if any(marker in exc.log for marker in _UNKNOWN_HELPER):
            return False, exc.complaint
        return True, ""
    except MissingPrivilegesError:
        raise
    except BPFError as exc:
        if exc.errno == errno_codes.EINVAL:  # the program type itself is unknown
            return False, exc.strerror
        raise


def _probe_link_create_perf_event() -> tuple[bool, str]:
    """``BPF_LINK_CREATE`` of a perf_event program onto a bad fd: 5.15+ looks the perf event up
    (EBADF); older kernels reject the attach type first (EINVAL)."""
    spec = ProgramSpec("probe_link", ProgramType.PERF_EVENT, _return_zero())
    with spec.load() as prog:
        try:
            link_fd = cmds.link_create(prog.fd, 0xFFFFFFFF, ATTACH_TYPE_PERF_EVENT)
        except MissingPrivilegesError:
            raise
        except BPFError as exc:
            if exc.errno == errno_codes.EBADF:
                return True, ""
            return False, f"link_create answered {errno_codes.errorcode.get(exc.errno)}"
        cmds.close_fd(link_fd)  # pragma: no cover - fd -1 is never a perf event
        return True, ""


def _probe_batch_ops() -> tuple[bool, str]:
    with MapSpec("probe_batch", MapType.HASH, 4, 4, 1).create() as m:
        keys, values, token = (ffi.new("char[]", 8) for _ in range(3))
        try:
            cmds.map_lookup_batch(m.fd, None, token, keys, values, 1)
        except MissingPrivilegesError:
            raise
        except BPFError as exc:
            if exc.errno == errno_codes.EINVAL:
                return False, "BPF_MAP_LOOKUP_BATCH answered EINVAL"
            raise
        return True, ""


def _probe_bounded_loops() -> tuple[bool, str]:
    from .asm import R0, Assembler

    a = Assembler().mov(R0, 0).label("again").add(R0, 1).jlt(R0, 4, "again").exit()
    try:
        with ProgramSpec("probe_loop", ProgramType.SOCKET_FILTER, a).load():
            return True, ""
    except VerifierError as exc:
        return False, exc.complaint


def _probe_btf_vmlinux() -> tuple[bool, str]:
    path = "/sys/kernel/btf/vmlinux"
    return os.path.exists(path), path


def _probe_perf_event_max_stack() -> tuple[bool, str]:
    value = perf_event_max_stack()
    return value is not None, "" if value is None else str(value)


def perf_event_max_stack() -> int | None:
    """``kernel.perf_event_max_stack``: the most frames a stack can have (``None`` before 4.8)."""
    try:
        with open("/proc/sys/kernel/perf_event_max_stack") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


# ---- the registry -------------------------------------------------------------------------------

_PROGRAM_TYPES = {
    ProgramType.SOCKET_FILTER: "3.19",
    ProgramType.KPROBE: "4.1",
    ProgramType.SCHED_CLS: "4.1",
    ProgramType.TRACEPOINT: "4.7",
    ProgramType.XDP: "4.8",
    ProgramType.PERF_EVENT: "4.9",
    ProgramType.RAW_TRACEPOINT: "4.17",
    ProgramType.SYSCALL: "5.14",
}
_MAP_TYPES = {
    MapType.HASH: "3.19",
    MapType.ARRAY: "3.19",
    MapType.PROG_ARRAY: "4.2",
    MapType.PERF_EVENT_ARRAY: "4.3",
    MapType.PERCPU_HASH: "4.6",
    MapType.PERCPU_ARRAY: "4.6",
    MapType.STACK_TRACE: "4.6",
    MapType.LRU_HASH: "4.10",
    MapType.LRU_PERCPU_HASH: "4.10",
    MapType.RINGBUF: "5.8",
}
# The helpers the profiler uses, with the program type it uses them from.
_HELPERS = {
    "get_stackid": "4.6",
    "get_stack": "4.18",
    "perf_event_output": "4.4",
    "ringbuf_output": "5.8",
    "ringbuf_reserve": "5.8",
    "get_current_task": "4.8",
    "probe_read_user": "5.5",
    "get_current_cgroup_id": "4.18",
    "loop": "5.17",
}


def _registry() -> dict[str, _Probe]:
    probes: list[_Probe] = []
    for t, since in _PROGRAM_TYPES.items():
        probes.append(
            _Probe(
                f"prog_type:{t.name.lower()}", "program type", since, _bind(_probe_program_type, t)
            )
        )
    for t, since in _MAP_TYPES.items():
        probes.append(
            _Probe(f"map_type:{t.name.lower()}", "map type", since, _bind(_probe_map_type, t))
        )
    for helper, since in _HELPERS.items():
        check = _bind(_probe_helper, helper, ProgramType.PERF_EVENT)
        probes.append(_Probe(f"helper:{helper}", "helper", since, check))
    probes += [
        _Probe("link_create_perf_event", "attach", "5.15", _probe_link_create_perf_event),
        _Probe("batch_map_ops", "map", "5.6", _probe_batch_ops),
        _Probe("bounded_loops", "verifier", "5.3", _probe_bounded_loops),
        _Probe("btf_vmlinux", "kernel", "5.4", _probe_btf_vmlinux),
        _Probe("perf_event_max_stack", "kernel", "4.8", _probe_perf_event_max_stack),
    ]
    return {p.name: p for p in probes}


def _bind(fn: Callable, *args: object) -> Callable[[], tuple[bool, str]]:
    return lambda: fn(*args)


#: The standard features (what :func:`probe_all` and the CLI report).
FEATURES: dict[str, _Probe] = _registry()
# Probes made on demand by have_helper/have_program_type/have_map_type for other combinations.
_extra: dict[str, _Probe] = {}
_cache: dict[str, FeatureResult] = {}


def names() -> list[str]:
    """The names of every feature :func:`check` knows."""
    return list(FEATURES)


def check(name: str) -> FeatureResult:
    """Probe feature ``name`` (once; later calls answer from the cache)."""
    if name in _cache:
        return _cache[name]
    try:
        probe = FEATURES.get(name) or _extra[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}; known: {', '.join(FEATURES)}") from None
    available, detail = probe.check()
    result = FeatureResult(name, probe.kind, available, probe.since, detail)
    _cache[name] = result
    return result


def have(name: str) -> bool:
    """Whether the running kernel has feature ``name``."""
    return check(name).available


def require(name: str) -> None:
    """Raise :class:`FeatureMissingError` if the running kernel lacks feature ``name``."""
    result = check(name)
    if not result.available:
        raise FeatureMissingError(name, since=result.since, detail=result.detail)


def have_program_type(prog_type: ProgramType) -> bool:
    """Whether the kernel loads programs of ``prog_type`` (probed, cached)."""
    name = f"prog_type:{_type_name(prog_type)}"
    if name not in FEATURES:
        _extra[name] = _Probe(name, "program type", "?", _bind(_probe_program_type, prog_type))
    return have(name)


def have_map_type(map_type: MapType) -> bool:
    """Whether the kernel creates maps of ``map_type`` (probed, cached)."""
    name = f"map_type:{MapType(map_type).name.lower()}"
    if name not in FEATURES:
        _extra[name] = _Probe(name, "map type", "?", _bind(_probe_map_type, map_type))
    return have(name)


def have_helper(helper: str, prog_type: ProgramType = ProgramType.PERF_EVENT) -> bool:
    """Whether programs of ``prog_type`` may call ``helper`` (probed, cached)."""
    helper = helper.removeprefix("bpf_")
    name = f"helper:{helper}"
    if prog_type != ProgramType.PERF_EVENT:
        name += f"@{_type_name(prog_type)}"
    if name not in FEATURES:
        since = _HELPERS.get(helper, "?")
        _extra[name] = _Probe(name, "helper", since, _bind(_probe_helper, helper, prog_type))
    return have(name)


def _type_name(prog_type: int) -> str:
    try:
        return ProgramType(prog_type).name.lower()
    except ValueError:
        return f"type_{int(prog_type)}"


def probe_all() -> list[FeatureResult]:
    """Probe every registered feature (EPERM raises :class:`MissingPrivilegesError`)."""
    return [check(name) for name in list(FEATURES)]


def clear_cache() -> None:
    """Forget every cached answer (for tests)."""
    _cache.clear()
