"""Uprobes as perf events (the ``uprobe`` PMU): a probe on a symbol of an ELF binary.

The PMU's type is in ``/sys/bus/event_source/devices/uprobe/type``; ``config1`` points to the
binary's path, ``config2`` is the probe's *file offset*, and the retprobe bit of ``config`` is
named by ``.../uprobe/format/retprobe`` (``config:0``). A symbol's value is a virtual address;
the file offset comes from the ``PT_LOAD`` program header that maps it (linkers such as lld put
code at a file offset different from its address).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from .perf_event import PerfEvent, describe_target, ffi, new_attr, open_perf_event

UPROBE_PMU = Path("/sys/bus/event_source/devices/uprobe")


@functools.cache
def uprobe_pmu_type() -> int:
    """The dynamic PMU type of uprobes (``/sys/bus/event_source/devices/uprobe/type``)."""
    try:
        return int((UPROBE_PMU / "type").read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            exc.errno, f"no uprobe PMU ({UPROBE_PMU}): kernel built without CONFIG_UPROBE_EVENTS?"
        ) from exc


@functools.cache
def uprobe_retprobe_bit() -> int:
    """The bit of ``config`` that turns a uprobe into a uretprobe (from the PMU's format)."""
    text = (UPROBE_PMU / "format" / "retprobe").read_text().strip()
    match = re.fullmatch(r"config:(\d+)", text)
    if match is None:  # pragma: no cover - every kernel so far says config:0
        raise ValueError(f"unexpected uprobe retprobe format {text!r}")
    return int(match.group(1))


def vaddr_to_file_offset(elf: object, vaddr: int) -> int:
    """Map a virtual address of ``elf`` (a pyelftools ELFFile) to its file offset.

    Uses the ``PT_LOAD`` segment whose ``[p_vaddr, p_vaddr + p_filesz)`` holds ``vaddr``.
    """
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_LOAD":
            continue
        start = segment["p_vaddr"]
        if start <= vaddr < start + segment["p_filesz"]:
            return vaddr - start + segment["p_offset"]
    raise ValueError(f"address {vaddr:#x} is in no PT_LOAD segment with file contents")


def symbol_file_offset(binary: str | os.PathLike[str], symbol: str) -> int:
    """The file offset of function ``symbol`` in ``binary`` (from ``.symtab``, else ``.dynsym``)."""
    from elftools.elf.elffile import ELFFile  # lazy: only uprobe users pay for pyelftools

    with open(binary, "rb") as f:
        elf = ELFFile(f)
        for section_name in (".symtab", ".dynsym"):
            table = elf.get_section_by_name(section_name)
            if table is None:
                continue
            for sym in table.get_symbol_by_name(symbol) or ():
                if sym["st_shndx"] != "SHN_UNDEF" and sym["st_value"] != 0:
                    return vaddr_to_file_offset(elf, sym["st_value"])
    raise LookupError(f"symbol {symbol!r} is not defined in {os.fspath(binary)}")


def open_uprobe(
    binary: str | os.PathLike[str],
    symbol: str | None = None,
    *,
    offset: int | None = None,
    retprobe: bool = False,
    pid: int = -1,
    cpu: int | None = None,
) -> PerfEvent:
    """Open a uprobe (or with ``retprobe=True`` a uretprobe) on ``binary``.

    Name the probed function by ``symbol`` or give its file ``offset`` directly. ``pid=-1``
    probes every process that runs the binary (then ``cpu`` defaults to 0; a BPF program
    attached to it runs on every CPU); ``pid=p`` only process ``p``.
    """
    if (symbol is None) == (offset is None):
        raise ValueError("give a symbol or an offset")
    path = os.path.realpath(binary)
    if offset is None:
        offset = symbol_file_offset(path, symbol)
    if cpu is None:
        cpu = 0 if pid == -1 else -1
    path_buf = ffi.new("char[]", os.fsencode(path))  # alive until the call returns
    attr = new_attr(
        type=uprobe_pmu_type(),
        config=(1 << uprobe_retprobe_bit()) if retprobe else 0,
        sample_period=1,
        wakeup_events=1,
    )
    attr.uprobe_path = int(ffi.cast("uintptr_t", path_buf))
    attr.probe_offset = offset
    kind = "uretprobe" if retprobe else "uprobe"
    where = symbol if symbol is not None else f"{offset:#x}"
    description = f"{kind} {path}:{where} ({describe_target(pid, cpu, None)})"
    return open_perf_event(attr, pid=pid, cpu=cpu, description=description)
