"""The listing: verifier notation, slots, comments, labels, and the window around a slot."""

from __future__ import annotations

from pybpf.asm import DW, R0, R1, R2, R10, Assembler, W


def numbered(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.endswith(":")]


def test_lines_use_the_kernel_verifier_notation():
    # The formats of kernel/bpf/disasm.c, so a verifier log and our listing read the same.
    a = Assembler()
    a.ldx(W, R0, R1, 4, comment="load")
    a.stx(DW, R10, -8, R1)
    a.st(W, R10, -12, 0)
    a.add32(R1, -1)
    a.jgt(R0, R2, "out")
    a.call("bpf_ktime_get_ns")
    a.label("out").exit()
    assert a.listing().splitlines() == [
        "    0: (61) r0 = *(u32 *)(r1 +4)                   ; load",
        "    1: (7b) *(u64 *)(r10 -8) = r1",
        "    2: (62) *(u32 *)(r10 -12) = 0",
        "    3: (04) w1 += -1",
        "    4: (2d) if r0 > r2 goto pc+1 <out>",
        "    5: (85) call bpf_ktime_get_ns#5",
        "out:",
        "    6: (95) exit",
    ]


def test_window_around_a_slot_marks_it_and_counts_lddw_as_two():
    a = Assembler()
    for value in range(6):
        a.ld_imm64(R1, value, comment=f"value {value}")  # slots 0, 2, 4, 6, 8, 10
    a.label("end").exit()  # slot 12
    window = a.listing(around=7, context=2).splitlines()
    # slots 5..9 are shown: the lddw at 4-5 and the one at 8-9 reach into the window
    assert [line.split(":")[0].strip(" >") for line in window] == ["4", "6", "8"]
    assert window[1].startswith(">") and "value 3" in window[1]
    tail = a.listing(around=12, context=1).splitlines()
    assert tail[-2:] == ["end:", ">  12: (95) exit"]


def test_listing_never_raises_for_unfinished_programs():
    a = Assembler().jeq(R0, 0, "later").ld_map_fd(R1, "counts").exit()
    text = a.listing()
    assert "<later?>" in text
    assert "map[counts]" in text
    assert len(numbered(text)) == 3


def test_comments_are_aligned_and_labels_have_their_own_line():
    a = Assembler().label("start").mov(R0, 1, comment="one").ja("start", comment="again")
    lines = a.listing().splitlines()
    assert lines[0] == "start:"
    assert lines[1].index(";") == lines[2].index(";")
    assert lines[2].endswith("; again")
