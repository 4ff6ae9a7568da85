"""Round trips: assemble -> disassemble -> encode gives the same bytes; listings are stable."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm import (
    DisassemblyError,
    Instruction,
    disassemble,
    format_listing,
)

from .program_strategies import map_fds, programs

LD_IMM64 = 0x18


def encode_all(insns: list[Instruction]) -> bytes:
    return b"".join(insn.encode() for insn in insns)


@settings(max_examples=150, deadline=None)
@given(a=programs(), fds=map_fds)
def test_assemble_disassemble_encode_gives_the_same_bytes(a, fds):
    raw = a.assemble(maps=fds)
    assert len(raw) == 8 * len(a)
    decoded = disassemble(raw)
    assert encode_all(decoded) == raw
    # the disassembled instructions are the assembled ones minus labels, map names and comments
    assert decoded == [insn.bare() for insn in a.instructions(maps=fds)]


@settings(max_examples=100, deadline=None)
@given(a=programs(), fds=map_fds)
def test_listing_of_disassembled_code_is_stable(a, fds):
    first = format_listing(disassemble(a.assemble(maps=fds)))
    second = format_listing(disassemble(encode_all(disassemble(a.assemble(maps=fds)))))
    assert first == second
    assert len(first.splitlines()) == len(disassemble(a.assemble(maps=fds)))


@settings(max_examples=100, deadline=None)
@given(a=programs(), fds=map_fds)
def test_listing_shows_every_slot_and_comment(a, fds):
    text = a.listing(maps=fds)
    insns = a.instructions(maps=fds)
    lines = [line for line in text.splitlines() if not line.endswith(":")]
    assert len(lines) == len(insns)
    slot = 0
    for line, insn in zip(lines, insns, strict=True):
        assert line.split(":", 1)[0].strip() == str(slot)
        assert f"({insn.opcode:02x}) {insn}" in line
        assert line.endswith(f"; {insn.comment}") == bool(insn.comment)
        slot += insn.slots
    for label in a.labels:
        assert f"{label}:" in text.splitlines()


@given(
    st.lists(
        st.tuples(
            st.integers(0, 255).filter(lambda opcode: opcode != LD_IMM64),
            st.integers(0, 255),
            st.integers(-(2**15), 2**15 - 1),
            st.integers(-(2**31), 2**31 - 1),
        ),
        max_size=20,
    )
)
def test_any_single_slot_bytes_round_trip(fields):
    raw = b"".join(struct.pack("<BBhi", *f) for f in fields)
    decoded = disassemble(raw)
    assert encode_all(decoded) == raw
    for insn in decoded:
        assert isinstance(str(insn), str)  # every opcode has some text, even unknown ones


@given(low=st.integers(-(2**31), 2**31 - 1), high=st.integers(-(2**31), 2**31 - 1))
def test_lddw_halves_round_trip(low, high):
    raw = struct.pack("<BBhi", LD_IMM64, 0x01, 0, low) + struct.pack("<BBhi", 0, 0, 0, high)
    (insn,) = disassemble(raw)
    assert insn.slots == 2
    assert insn.imm == ((high % 2**32) << 32) | (low % 2**32)
    assert insn.encode() == raw


def test_disassembler_rejects_partial_instructions():
    with pytest.raises(DisassemblyError, match="whole number"):
        disassemble(b"\x95" + bytes(6))
    with pytest.raises(DisassemblyError, match="second slot"):
        disassemble(struct.pack("<BBhi", LD_IMM64, 1, 0, 5))
    with pytest.raises(DisassemblyError, match="reserved"):
        disassemble(struct.pack("<BBhi", LD_IMM64, 1, 0, 5) + struct.pack("<BBhi", 0, 3, 0, 0))


def test_instructions_are_values():
    one = Instruction(0xB7, 0, 0, 0, 1, comment="one")
    same = Instruction(0xB7, 0, 0, 0, 1)
    assert one == same and hash(one) == hash(same)  # comments do not change what it is
    assert one != Instruction(0xB7, 0, 0, 0, 2)
    assert Instruction(0xB4, 1, 0, 0, 0xFFFFFFFF) == Instruction(0xB4, 1, 0, 0, -1)
    with pytest.raises(AttributeError):
        one.imm = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="16-bit"):
        Instruction(0x05, off=2**15)
    with pytest.raises(ValueError, match="32 bits"):
        Instruction(0xB7, imm=2**32)
