"""Off-CPU recording inside a session: started beside the CPU sampler, described for the profile.

The off-CPU program shares the CPU sampler's ``targets`` map (``--pid`` and the children the
session follows: one update reaches both programs) and its ``dwarf_pids`` map (the processes the
unwind policy moved to DWARF), takes the same ``--cgroup``, the same stacks options and the
session's process registry. The session drains both every interval into the same pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..bpf.offcpu import OffCpuSampler
from ..output.off_cpu import OffCpuInfo

if TYPE_CHECKING:
    from ..bpf.sampler import Sampler
    from ..process.registry import ProcessRegistry
    from ..unwind import TableCache
    from .options import SessionOptions


def start_off_cpu(
    options: SessionOptions,
    sampler: Sampler,
    *,
    pids: Iterable[int],
    registry: ProcessRegistry,
    table_cache: TableCache | None,
    dwarf_pids: Iterable[int] = (),
) -> OffCpuSampler:
    """An :class:`OffCpuSampler` for a session's ``options`` beside its CPU ``sampler``
    (``options.off_cpu`` must be set); ``pids``: the targets the sampler was given."""
    if options.off_cpu is None:
        raise ValueError("these session options record no off-CPU time")
    return OffCpuSampler(
        options.off_cpu,
        options.sampling,
        pids=pids,
        cgroup=options.targets.cgroup,
        registry=registry,
        table_cache=table_cache,
        dwarf_pids=dwarf_pids,
        targets_map=sampler.targets,
        dwarf_pids_map=sampler.dwarf_pids,
        python_maps=sampler.python_maps,
    )


def off_cpu_info(offcpu: OffCpuSampler) -> OffCpuInfo:
    """How ``offcpu`` records (for a profile's comments), with its latest statistics."""
    o = offcpu.options
    return OffCpuInfo(
        min_ns=o.min_ns,
        sample=o.sample,
        scale=offcpu.scale,
        hook=offcpu.hook,
        stats=offcpu.stats,
        dwarf_min_ns=o.dwarf_min_ns if offcpu.dwarf is not None else 0,
    )
