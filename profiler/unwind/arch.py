"""The architecture facts the unwinder needs: DWARF register numbers and pointer size.

DWARF CFI names registers by number, and the numbering is per architecture (the psABI). The
table builder keeps only the registers an unwinder of compiled code needs to restore: the stack
pointer (the CFA is almost always defined on it), the frame pointer and the return address.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arch:
    """DWARF register numbers of one architecture (the psABI's DWARF register mapping)."""

    name: str  # "x86_64" | "aarch64"
    e_machine: str  # pyelftools' e_machine name
    sp: int  # stack pointer
    fp: int  # frame pointer
    ra: int  # the CIE's default return-address column
    lr: int | None  # link register (holds the RA in a leaf on arm64), None on x86_64
    ptr_size: int = 8
    # Bytes a call pushes: on x86_64 the caller's CFA is rsp+8 right at a function's entry; the
    # frame-pointer fallback (rbp chain) is the same shape on both: [fp] = caller fp, [fp+8] = RA.
    fp_frame_ra_offset: int = 8


X86_64 = Arch(name="x86_64", e_machine="EM_X86_64", sp=7, fp=6, ra=16, lr=None)
# AAPCS64 DWARF: x29 = fp, x30 = lr (also the RA column), 31 = sp.
AARCH64 = Arch(name="aarch64", e_machine="EM_AARCH64", sp=31, fp=29, ra=30, lr=30)

_BY_MACHINE = {a.e_machine: a for a in (X86_64, AARCH64)}
_BY_NAME = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


def arch_for_machine(e_machine: str) -> Arch:
    """The :class:`Arch` for an ELF ``e_machine`` (pyelftools' name, e.g. ``"EM_X86_64"``)."""
    try:
        return _BY_MACHINE[e_machine]
    except KeyError:
        raise ValueError(
            f"unwind: unsupported ELF machine {e_machine!r} (x86_64, aarch64)"
        ) from None


def host_arch() -> Arch:
    """The :class:`Arch` of the machine we run on."""
    machine = platform.machine()
    try:
        return _BY_NAME[machine]
    except KeyError:
        raise ValueError(f"unwind: unsupported host architecture {machine!r}") from None
