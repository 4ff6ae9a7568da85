"""Hypothesis strategies: random programs built with every kind of builder, labels included."""

from __future__ import annotations

from hypothesis import strategies as st

from pybpf.asm import DW, HELPER_IDS, Assembler, B, H, Register, W

registers = st.sampled_from(list(Register))
imm32 = st.integers(-(2**31), 2**31 - 1)
off16 = st.integers(-(2**15), 2**15 - 1)
sizes = st.sampled_from([B, H, W, DW])
helpers = st.sampled_from(sorted(name for name, helper in HELPER_IDS.items() if helper))

ALU = [
    name + suffix
    for name in ("add", "sub", "mul", "div", "mod", "or_", "and_", "lsh", "rsh", "arsh", "xor")
    for suffix in ("", "32")
] + ["mov", "mov32", "sdiv", "smod", "sdiv32", "smod32"]
ALU = [name.replace("_32", "32") for name in ALU]
JUMPS = [
    name + suffix
    for name in ("jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset")
    for suffix in ("", "32")
]
ATOMICS = ["atomic_add", "atomic_or", "atomic_and", "atomic_xor"]
LABELS = [f"L{i}" for i in range(4)]
MAPS = ["counts", "stacks"]


def _call(methods, *args, kwargs=None) -> st.SearchStrategy[tuple]:
    """A call of one of ``methods`` with arguments drawn from ``args``."""
    names = st.sampled_from(methods) if isinstance(methods, list) else st.just(methods)
    return st.tuples(names, st.tuples(*args), st.just({}) if kwargs is None else kwargs)


def _steps(labels: st.SearchStrategy[str]) -> st.SearchStrategy[tuple]:
    """One builder call as (method, args, kwargs)."""
    source = st.one_of(registers, imm32)
    atomic_operands = (st.sampled_from([W, DW]), registers, off16, registers)
    return st.one_of(
        _call(ALU, registers, source),
        _call(["neg", "neg32"], registers),
        _call("movsx", registers, registers, st.sampled_from([8, 16, 32])),
        _call(["be", "le", "bswap"], registers, st.sampled_from([16, 32, 64])),
        _call(JUMPS, registers, source, labels),
        _call(["ja", "gotol", "call_local"], labels),
        _call("call", helpers),
        _call("exit"),
        _call("ldx", sizes, registers, registers, off16),
        _call("ldxsx", st.sampled_from([B, H, W]), registers, registers, off16),
        _call("stx", sizes, registers, off16, registers),
        _call("st", sizes, registers, off16, imm32),
        _call(ATOMICS, *atomic_operands, kwargs=st.fixed_dictionaries({"fetch": st.booleans()})),
        _call(["xchg", "cmpxchg"], *atomic_operands),
        _call("ld_imm64", registers, st.integers(-(2**63), 2**64 - 1)),
        _call("ld_map_fd", registers, st.sampled_from(MAPS)),
        _call("ld_map_value", registers, st.sampled_from(MAPS), st.integers(0, 2**32 - 1)),
        _call("ld_func", registers, labels),
    )


@st.composite
def programs(draw, max_steps: int = 40) -> Assembler:
    """A random program: builder calls with comments, and labels placed among them."""
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=4, unique=True))
    steps = draw(st.lists(_steps(st.sampled_from(labels)), min_size=1, max_size=max_steps))
    places = {label: draw(st.integers(0, len(steps))) for label in labels}
    a = Assembler()
    for index, (method, args, kwargs) in enumerate(steps):
        for label, place in places.items():
            if place == index:
                a.label(label)
        comment = draw(st.sampled_from(["", "why this step"]))
        getattr(a, method)(*args, **kwargs, comment=comment)
    for label, place in places.items():
        if place == len(steps):
            a.label(label)
    return a


map_fds = st.fixed_dictionaries({name: st.integers(0, 2**31 - 1) for name in MAPS})
