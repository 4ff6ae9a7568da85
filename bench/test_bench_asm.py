"""Assembling a 1 000-instruction program (labels, jumps, map references) with pybpf.asm.

Run: python -m pytest bench/test_bench_asm.py -p no:cacheprovider -s
Measured in the same run: building + assembling with the DSL, assembling a built program, and the
peer, ``struct.pack`` of the same (already resolved) instruction fields. The per-instruction cost
and the ratio to the peer are printed.
"""

from __future__ import annotations

import struct

from pybpf.asm import DW, R0, R1, R2, R6, R10, Assembler, W

N = 1_000
ROUNDS = 30
MAPS = {"counts": 5, "stacks": 6, "stats": 7}
medians: dict[str, float] = {}


def build() -> Assembler:
    """A program of N instructions: ALU, loads, stores, map loads, jumps to labels 8 ahead."""
    a = Assembler()
    names = list(MAPS)
    i = 0
    while i < N:  # instructions, not slots
        if i % 8 == 0:
            a.label(f"L{i}")
        kind = i % 10
        if kind == 0:
            a.ld_map_fd(R1, names[i % 3], comment="map by name")
        elif kind == 1:
            a.jeq(R0, 0, f"L{(i // 8 + 2) * 8}", comment="forward")
        elif kind == 2:
            a.ldx(W, R2, R6, 4)
        elif kind == 3:
            a.stx(DW, R10, -8, R2)
        elif kind == 4:
            a.call("map_lookup_elem")
        else:
            a.add(R2, i)
        i += 1
    defined = a.labels
    for n in range(0, (i // 8 + 3) * 8, 8):  # labels still ahead of the last jumps
        if f"L{n}" not in defined:
            a.label(f"L{n}")
    a.exit()
    return a


def fields_of(a: Assembler) -> list[tuple[int, int, int, int]]:
    """The resolved slots of ``a`` as (opcode, regs, off, imm) tuples, for the struct peer."""
    raw = a.assemble(maps=MAPS)
    return list(struct.iter_unpack("<BBhi", raw))


def test_build_and_assemble(benchmark):
    raw = benchmark(lambda: build().assemble(maps=MAPS))
    assert len(raw) >= 8 * N
    medians["build+assemble"] = benchmark.stats.stats.median


def test_assemble_built_program(benchmark):
    a = build()
    raw = benchmark(a.assemble, MAPS)
    assert len(raw) == 8 * len(a)
    medians["assemble"] = benchmark.stats.stats.median


def test_struct_pack_peer(benchmark):
    a = build()
    fields = fields_of(a)
    pack = struct.Struct("<BBhi").pack

    raw = benchmark(lambda: b"".join(pack(*f) for f in fields))
    assert raw == a.assemble(maps=MAPS)
    medians["struct.pack"] = benchmark.stats.stats.median
    n = N + 1  # the instructions built, plus the exit
    peer = medians["struct.pack"]
    print()
    for name in ("build+assemble", "assemble"):
        if name in medians:
            ours = medians[name]
            print(
                f"{name:>15}: {ours * 1e6 / n:6.2f} µs per instruction "
                f"({ours * 1e3:.2f} ms for {n}), {ours / peer:.1f}x struct.pack"
            )
    print(f"{'struct.pack':>15}: {peer * 1e6 / n:6.2f} µs per instruction (peer)")
