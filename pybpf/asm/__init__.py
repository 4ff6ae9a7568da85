"""pybpf.asm: the eBPF assembler DSL, disassembler and listing.

>>> from pybpf.asm import Assembler, R0
>>> a = Assembler()
>>> _ = a.mov(R0, 0, comment="return 0").exit()
>>> len(a.assemble())
16
"""

from __future__ import annotations

from .assembler import Assembler, format_listing
from .disassembler import DisassemblyError, disassemble
from .errors import (
    AssemblyError,
    DuplicateLabelError,
    JumpRangeError,
    MissingMapError,
    UnknownLabelError,
)
from .helpers import HELPER_IDS, UnknownHelperError, helper_id, helper_name
from .instruction import Instruction
from .opcodes import DW, FP, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, B, H, Register, Size, W

__all__ = [
    "DW",
    "FP",
    "HELPER_IDS",
    "R0",
    "R1",
    "R2",
    "R3",
    "R4",
    "R5",
    "R6",
    "R7",
    "R8",
    "R9",
    "R10",
    "Assembler",
    "AssemblyError",
    "B",
    "DisassemblyError",
    "DuplicateLabelError",
    "H",
    "Instruction",
    "JumpRangeError",
    "MissingMapError",
    "Register",
    "Size",
    "UnknownHelperError",
    "UnknownLabelError",
    "W",
    "disassemble",
    "format_listing",
    "helper_id",
    "helper_name",
]
