"""Labels (forward, backward, in slots), jump ranges, map references and their errors."""

from __future__ import annotations

import pytest

from pybpf.asm import (
    DW,
    R0,
    R1,
    R2,
    R6,
    Assembler,
    B,
    DuplicateLabelError,
    JumpRangeError,
    MissingMapError,
    UnknownLabelError,
    disassemble,
)


class FakeMap:
    """Stands for a loaded map: only ``.fd`` and ``.name`` are used."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name


def resolved(a: Assembler, **kw):
    return disassemble(a.assemble(**kw))


def test_forward_and_backward_jumps_count_slots_and_lddw_takes_two():
    a = Assembler()
    a.label("top")
    a.mov(R0, 0)  # slot 0
    a.jeq(R1, 0, "out")  # slot 1
    a.ld_imm64(R2, 1 << 40)  # slots 2-3
    a.ja("top")  # slot 4
    a.label("out")
    a.exit()  # slot 5
    insns = resolved(a)
    assert [i.off for i in insns] == [0, 5 - (1 + 1), 0, 0 - (4 + 1), 0]
    assert a.labels == {"top": 0, "out": 5}
    assert len(a) == 6


def test_unknown_label_error_names_the_label_and_shows_the_jump():
    a = Assembler().mov(R0, 0).jne(R0, 1, "nowhere", comment="the bad jump").label("out").exit()
    with pytest.raises(UnknownLabelError) as error:
        a.assemble()
    message = str(error.value)
    assert "'nowhere'" in message and "out" in message
    assert "the bad jump" in message  # the listing around the jump is part of the message


def test_duplicate_label_is_refused_where_it_is_defined():
    a = Assembler().label("again").mov(R0, 0)
    with pytest.raises(DuplicateLabelError, match=r"'again'.*slot 0"):
        a.label("again")


def test_label_at_the_end_and_several_labels_at_one_place():
    a = Assembler().label("a").label("b").ja("end").ja("a").ja("b").label("end")
    assert [i.off for i in resolved(a)] == [2, -2, -3]


def test_jump_beyond_16_bits_is_refused_and_gotol_reaches_it():
    far = 2**15 + 10
    a = Assembler().ja("far")
    for _ in range(far):
        a.mov(R0, 0)
    a.label("far").exit()
    with pytest.raises(JumpRangeError, match="gotol"):
        a.assemble()

    b = Assembler().gotol("far")
    for _ in range(far):
        b.mov(R0, 0)
    b.label("far").exit()
    assert resolved(b)[0].imm == far


def test_raw_integer_offsets_pass_through():
    insns = resolved(Assembler().jeq(R1, R2, 3).ja(-1).call_local(2))
    assert [insns[0].off, insns[1].off, insns[2].imm] == [3, -1, 2]


def test_local_calls_and_function_pointers_put_the_offset_in_imm():
    a = Assembler().call_local("sub").ld_func(R2, "sub").exit().label("sub").ret(0)
    call, ld_func, *_ = resolved(a)
    assert (call.src, call.imm) == (1, 3)  # BPF_PSEUDO_CALL, slot 0 -> slot 4
    assert (ld_func.src, ld_func.imm) == (4, 2)  # BPF_PSEUDO_FUNC, slot 1 -> slot 4


def test_maps_by_object_by_name_and_by_name_to_object():
    counts = FakeMap(11, "counts")
    a = Assembler().ld_map_fd(R1, counts).ld_map_fd(R2, "stacks").ld_map_value(R6, "cfg", 8)
    a.exit()
    insns = resolved(a, maps={"stacks": 12, "cfg": FakeMap(13, "cfg")})
    assert [(i.src, i.imm) for i in insns[:3]] == [(1, 11), (1, 12), (2, (8 << 32) | 13)]
    assert insns[2].dst == int(R6)
    assert a.map_references() == {"stacks": [2], "cfg": [4]}


def test_map_fd_is_read_when_assembling_not_when_building():
    m = FakeMap(3, "counts")
    a = Assembler().ld_map_fd(R1, m).exit()
    m.fd = 42  # e.g. the map was re-created between building and loading
    assert resolved(a)[0].imm == 42


def test_missing_map_error_names_the_map_and_what_was_given():
    a = Assembler().ld_map_fd(R1, "counts").exit()
    with pytest.raises(MissingMapError, match=r"'counts'.*given: stacks"):
        a.assemble(maps={"stacks": 4})
    closed = FakeMap(-1, "closed")
    with pytest.raises(MissingMapError, match="'closed' has no open fd"):
        Assembler().ld_map_fd(R1, closed).exit().assemble()


def test_bad_arguments_are_refused_when_building():
    a = Assembler()
    with pytest.raises(TypeError, match="register"):
        a.mov(11, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="size"):
        a.ldx(4, R0, R1, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bits"):
        a.mov(R0, 2**32)
    with pytest.raises(ValueError, match="W or DW"):
        a.atomic_add(B, R1, 0, R2)
    with pytest.raises(ValueError, match="16, 32 or 64"):
        a.be(R1, 8)
    with pytest.raises(TypeError, match="map"):
        a.ld_map_fd(R1, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown BPF helper 'map_lookup_elm'.*map_lookup_elem"):
        a.call("map_lookup_elm")
    assert len(a) == 0  # nothing half-built was kept


def test_conveniences():
    m = FakeMap(5, "counts")
    a = Assembler().zero_stack(-20, 20).lookup_or_jump(m, -20, "miss")
    a.atomic_add(DW, R0, 0, R6).label("miss").ret(0)
    insns = resolved(a)
    # -20 is 4-aligned: one 4-byte store, then two 8-byte stores cover [-20, 0)
    assert [str(i) for i in insns[:3]] == [
        "*(u32 *)(r10 -20) = 0",
        "*(u64 *)(r10 -16) = 0",
        "*(u64 *)(r10 -8) = 0",
    ]
    assert [str(i) for i in insns[3:8]] == [
        "r1 = map[fd:5]",
        "r2 = r10",
        "r2 += -20",
        "call bpf_map_lookup_elem#1",
        "if r0 == 0x0 goto pc+1",
    ]
    with pytest.raises(ValueError, match="not below r10"):
        Assembler().zero_stack(-8, 16)
