"""Kernel symbols from /proc/kallsyms (real) and from recorded kallsyms text (modules, restrict)."""

from __future__ import annotations

import logging

from profiler.frames.model import KERNEL
from profiler.symbolize import Symbolizer
from profiler.symbolize.kallsyms import KernelSymbols, kernel_build_id

from ..support import skip_or_fail

RECORDED = """\
ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81001000 t __pfx_do_one
ffffffff81001010 t do_one
ffffffff81001080 T do_two
ffffffff82000000 D some_data
ffffffffc0001000 t __pfx_mod_fn\t[dummy]
ffffffffc0001010 t mod_fn\t[dummy]
ffffffffc0001100 T mod_other\t[dummy]
"""


def _kallsyms_address(name: str) -> int:
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == name and parts[1] in "tT":
                return int(parts[0], 16)
    return 0


def test_known_kernel_function_of_the_running_kernel():
    address = _kallsyms_address("do_syscall_64")
    if address == 0:
        skip_or_fail("/proc/kallsyms hides addresses (kptr_restrict): run as root")
    with Symbolizer() as sym:
        for addr in (address, address + 10):
            (frame,) = sym.kernel_frames(addr)
            assert frame.function == "do_syscall_64"
            assert frame.module_path == "[kernel.kallsyms]"
            assert frame.kind == KERNEL
            assert frame.address == addr
            assert frame.module.build_id == kernel_build_id()
        assert not sym.stats.kallsyms_restricted
        assert sym.stats.kernel_addresses == 2


def test_recorded_kallsyms_with_module():
    symbols = KernelSymbols.parse(RECORDED)
    assert symbols.lookup(0xFFFFFFFF81001015) == ("do_one", 0xFFFFFFFF81001010, "")
    assert symbols.lookup(0xFFFFFFFFC0001020) == ("mod_fn", 0xFFFFFFFFC0001010, "dummy")
    assert symbols.lookup(0xFFFFFFFFC0001100)[0] == "mod_other"
    # __pfx_ padding symbols and data symbols are not functions.
    assert symbols.lookup(0xFFFFFFFF81001004)[0] != "__pfx_do_one"
    assert symbols.address_of("some_data") is None
    assert symbols.lookup(0xFFFFFFFF80000000) is None


def test_module_frames_and_caller_lookup(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text(RECORDED)
    with Symbolizer(kallsyms_path=str(path)) as sym:
        (frame,) = sym.kernel_frames(0xFFFFFFFFC0001020)
        assert (frame.function, frame.module_path, frame.kind) == ("mod_fn", "[dummy]", KERNEL)
        # A return address equal to the next function's start belongs to the caller before it.
        stack = sym.kernel_stack([0xFFFFFFFF81001010, 0xFFFFFFFF81001080])
        assert [f.function for f in stack] == ["do_one", "do_one"]
        assert sym.kernel_frames(0xFFFFFFFF81001080)[0].function == "do_two"


def test_restricted_kallsyms_is_reported(tmp_path, caplog):
    path = tmp_path / "kallsyms"
    path.write_text(
        "".join("0000000000000000 " + line[17:] + "\n" for line in RECORDED.splitlines())
    )
    with Symbolizer(kallsyms_path=str(path)) as sym, caplog.at_level(logging.WARNING):
        (frame,) = sym.kernel_frames(0xFFFFFFFF81001015)
        assert frame.function == "[unknown]" and frame.kind == KERNEL
        assert sym.stats.kallsyms_restricted
        assert sym.stats.unsymbolized == 1
    assert "kptr_restrict" in caplog.text


def test_bpf_program_loaded_later_is_found_by_reading_kallsyms_again(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text(RECORDED)
    bpf_prog = 0xFFFFFFFFA0002000
    with Symbolizer(kallsyms_path=str(path), kernel_refresh_interval=0) as sym:
        assert sym.kernel_frames(0xFFFFFFFF81001015)[0].function == "do_one"
        assert sym.kernel_frames(bpf_prog + 8)[0].function == "[unknown]"
        # The profiler loads its BPF program: kallsyms gains it.
        path.write_text(RECORDED + f"{bpf_prog:x} t bpf_prog_0123456789abcdef_sampler\t[bpf]\n")
        (frame,) = sym.kernel_frames(bpf_prog + 8)
        assert (frame.function, frame.module_path) == ("bpf_prog_0123456789abcdef_sampler", "[bpf]")
        assert sym.kernel_frames(0xFFFFFFFF81001015)[0].function == "do_one"


def test_out_of_order_symbols_are_put_in_place():
    # Real kallsyms ends with a few BPF programs and trampolines below the modules; a text in
    # no order at all (more than a short tail) is sorted whole. Both give the same lookups.
    tail = "ffffffffa0002000 t bpf_prog_aa_x\t[bpf]\nffffffff81000800 t early_fn\n"
    lines = RECORDED.splitlines(keepends=True)
    for text in (RECORDED + tail, "".join(reversed(lines)) + tail):
        symbols = KernelSymbols.parse(text)
        starts = [symbols.lookup(a)[1] for a in (0xFFFFFFFF81000900, 0xFFFFFFFFA0002004)]
        assert starts == [0xFFFFFFFF81000800, 0xFFFFFFFFA0002000]
        assert symbols.lookup(0xFFFFFFFF81000900)[0] == "early_fn"
        assert symbols.lookup(0xFFFFFFFFA0002004) == ("bpf_prog_aa_x", 0xFFFFFFFFA0002000, "bpf")
        assert symbols.lookup(0xFFFFFFFF81001015) == ("do_one", 0xFFFFFFFF81001010, "")
        assert symbols.lookup(0xFFFFFFFFC0001020)[0] == "mod_fn"
    many = "".join(f"ffffffff8{i:07x} t f{i}\n" for i in range(6000, 0, -1))
    symbols = KernelSymbols.parse(many)  # a long unsorted run: the whole-sort path
    assert symbols.lookup(0xFFFFFFFF80000005) == ("f5", 0xFFFFFFFF80000005, "")
