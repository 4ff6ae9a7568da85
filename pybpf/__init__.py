"""pybpf: a pure-Python eBPF toolkit (DSL assembler, maps, programs, perf events, readers).

Nothing is compiled: syscalls go through cffi in ABI mode. The main names are importable from
the package (loaded on first use, so ``import pybpf`` stays cheap)::

    from pybpf import Assembler, MapSpec, MapType, ProgramSpec, ProgramType

See the README and docs/ for the API.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Assembler": "asm",
    "disassemble": "asm",
    "MapSpec": "maps",
    "Map": "maps",
    "MapType": "maps",
    "ProgramSpec": "programs",
    "Program": "programs",
    "ProgramType": "programs",
    "AttachType": "programs",
    "BPFError": "errors",
    "VerifierError": "errors",
    "MissingPrivilegesError": "errors",
    "FeatureMissingError": "errors",
    "PerfEvent": "perf_event",
    "open_cpu_clock": "perf_event",
    "open_tracepoint": "perf_event",
    "online_cpus": "perf_event",
    "open_uprobe": "uprobe",
    "attach_perf_event": "attach",
    "PerfBuffer": "perf_buffer",
    "RingBuffer": "ringbuf",
    "struct_type": "structs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pybpf' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
