"""Where to probe a Tokio binary to see spawns and polls: function symbols by demangled name.

Tokio's spawn and poll paths are generic, so each spawned future type has its own copies, and
release builds inline some of them away. Two kinds of functions survive in every build we
checked (Debian's tokio 1.24, rustc release, legacy and v0 mangling, with and without frame
pointers):

- ``tokio::task::spawn::spawn::<F>``: returns the new task's ``JoinHandle``, a one-pointer struct
  holding the task's ``Header`` address (returned in the first return register). Other spawn entry
  points (``spawn_inner``, ``scheduler::Handle::spawn``, ``Runtime::spawn``, ``Handle::spawn``)
  return the same handle and are probed too where a copy exists. An outer copy that calls an
  inner probed copy (``spawn`` calling ``scheduler::Handle::spawn``) is left out: both would
  fire for one spawn, and a probe hit is what costs (see docs/spawned_tasks.md).
- ``tokio::runtime::task::raw::poll::<T, S>``: the task vtable's ``poll`` entry, reached by an
  indirect call (so never inlined), whose one argument is the task's ``Header`` address.
  (``RawTask::poll`` exists as a symbol but release builds inline every call to it.)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..elf.address import file_offset_of
from ..elf.file import ElfFile
from ..elf.symbols import STT_FUNC, iter_symbols

EM_X86_64 = 62
MAX_FUNCTION_SIZE = 1 << 20  # bytes of one spawn copy disassembled (they are a few hundred)

# Demangled names (generic arguments and LLVM suffixes stripped) of functions returning a
# JoinHandle for a newly spawned task.
SPAWN_FUNCTIONS = (
    "tokio::task::spawn::spawn",
    "tokio::task::spawn::spawn_inner",
    "tokio::runtime::scheduler::Handle::spawn",
    "tokio::runtime::handle::Handle::spawn",
    "tokio::runtime::runtime::Runtime::spawn",
)
# The funnel every spawn entry point above ends in (when it is not inlined into them).
INNER_SPAWN = "tokio::runtime::scheduler::Handle::spawn"
# The vtable's poll entry of a task: its argument is the task header's address.
POLL_FUNCTIONS = ("tokio::runtime::task::raw::poll",)

# v0 spells inherent impls as ``<tokio::x::Handle>::spawn``; both manglings may add ``::<...>``.
_IMPL = re.compile(r"^<([^<>]+)>::")
_GENERIC_TAIL = re.compile(r"::<.*>$")
_SUFFIX = re.compile(r"(?:\.llvm\.\d+| \(\.llvm\.\d+\))$")


@dataclass(frozen=True)
class ProbePoint:
    """One function copy to probe: its demangled name, symbol value and file offset."""

    name: str
    address: int
    offset: int
    size: int = 0  # st_size: bytes of code


@dataclass(frozen=True)
class ProbePoints:
    """The spawn and poll functions of one binary (empty lists: not a Tokio binary)."""

    binary: str
    spawns: tuple[ProbePoint, ...]
    polls: tuple[ProbePoint, ...]

    @property
    def usable(self) -> bool:
        """Whether spawns can be linked: both a spawn and a poll function were found."""
        return bool(self.spawns) and bool(self.polls)


def base_name(demangled: str) -> str:
    """A demangled name without generic arguments, impl brackets and LLVM suffixes.

    ``<tokio::runtime::scheduler::Handle>::spawn::<F>`` becomes
    ``tokio::runtime::scheduler::Handle::spawn``.
    """
    name = _SUFFIX.sub("", demangled)
    name = _GENERIC_TAIL.sub("", name)
    return _IMPL.sub(r"\1::", name)


def find_probe_points(binary: str | os.PathLike[str]) -> ProbePoints:
    """Find the spawn and poll function copies in ``binary``'s ``.symtab`` (or ``.dynsym``).

    Read with the ELF layer (``ElfFile``, ``iter_symbols``): raises ``ElfError`` for a malformed
    file, ``OSError`` if it cannot be read. A symbol in no PT_LOAD segment is left out.
    """
    from ..demangle import demangle

    path = os.path.realpath(binary)
    spawns: dict[int, ProbePoint] = {}
    polls: dict[int, ProbePoint] = {}
    with ElfFile.open(path) as elf:
        loads = elf.load_segments()
        for section_name in (".symtab", ".dynsym"):
            table = elf.section(section_name)
            if table is None:
                continue
            for sym in iter_symbols(elf, table):
                raw = sym.name
                # Cheap filter before demangling: both manglings keep the plain identifiers.
                if "tokio" not in raw or ("spawn" not in raw and "4poll" not in raw):
                    continue
                if sym.type != STT_FUNC or sym.value == 0:
                    continue
                name = base_name(demangle(raw))
                kind = (
                    spawns if name in SPAWN_FUNCTIONS else polls if name in POLL_FUNCTIONS else None
                )
                if kind is None or sym.value in kind:
                    continue
                offset = file_offset_of(loads, sym.value)
                if offset is not None:
                    kind[sym.value] = ProbePoint(name, sym.value, offset, sym.size)
            if spawns or polls:
                break
        if elf.machine == EM_X86_64:
            spawns = _without_outer_spawns(spawns, elf)
    return ProbePoints(
        path,
        tuple(sorted(spawns.values(), key=lambda p: p.address)),
        tuple(sorted(polls.values(), key=lambda p: p.address)),
    )


def direct_call_targets(code: bytes, address: int) -> set[int]:
    """Targets of the direct ``call`` instructions in x86-64 ``code`` loaded at ``address``."""
    import capstone  # lazy: only spawn tracking pays for capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    targets = set()
    for insn in md.disasm_lite(code, address):
        _addr, _size, mnemonic, operands = insn
        if mnemonic == "call" and operands.startswith("0x"):
            targets.add(int(operands, 16))
    return targets


def _without_outer_spawns(spawns: dict[int, ProbePoint], elf: ElfFile) -> dict[int, ProbePoint]:
    """Leave out outer spawn copies that call an inner (``INNER_SPAWN``) copy directly."""
    inner = {a for a, p in spawns.items() if p.name == INNER_SPAWN}
    if not inner:
        return spawns
    kept = {}
    for address, point in spawns.items():
        if point.name != INNER_SPAWN and 0 < point.size <= MAX_FUNCTION_SIZE:
            code = elf.read(point.offset, min(point.size, elf.size - point.offset))
            if direct_call_targets(code, address) & inner:
                continue  # the inner copy's probe sees this spawn
        kept[address] = point
    return kept
