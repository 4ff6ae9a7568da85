"""User-space symbolization of running C programs: PIE, non-PIE, lld layouts, shared libraries."""

from __future__ import annotations

import os

import pytest

from profiler.elf.file import PF_X, ElfFile
from profiler.frames.model import UNKNOWN, USER
from profiler.symbolize import Symbolizer

from ..support import require_tool
from .native_programs import PROGRAM_C, compile_c, nm_symbols, run_tool, running

LAYOUTS = {
    "pie": ("-O2", "-fPIE", "-pie"),
    "no-pie": ("-O2", "-fno-pie", "-no-pie"),
    "lld-pie": ("-O2", "-fPIE", "-pie", "-fuse-ld=lld"),
    "lld-no-pie": ("-O2", "-fno-pie", "-no-pie", "-fuse-ld=lld"),
}


def _build_id_by_readelf(path) -> str:
    for line in run_tool("readelf", "-n", str(path)).splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    return ""


@pytest.fixture(scope="module", params=list(LAYOUTS))
def layout_binary(request, build_dir):
    if "lld" in request.param:
        require_tool("ld.lld")
    return compile_c(PROGRAM_C, build_dir / f"prog-{request.param}", *LAYOUTS[request.param])


def test_names_every_function_at_start_middle_and_end(layout_binary, no_fd_leak):
    sizes = nm_symbols(layout_binary)
    build_id = _build_id_by_readelf(layout_binary)
    with running(layout_binary) as prog, Symbolizer() as sym:
        assert set(prog.addresses) == {"alpha", "beta", "gamma_local"}
        for name, start in prog.addresses.items():
            size = sizes[name][1]
            assert size > 2, f"{name} too small to test inside it"
            for addr in (start, start + size // 2, start + size - 1):
                frames = sym.user_frames(prog.pid, addr)
                assert [f.function for f in frames] == [name], hex(addr)
                frame = frames[0]
                assert frame.kind == USER
                assert frame.address == addr
                assert frame.module_path == str(layout_binary)
                assert frame.module.build_id == build_id
                assert frame.module.start <= addr < frame.module.limit
        # A second round is answered from the per-process cache.
        hits = sym.stats.cache_hits
        sym.user_frames(prog.pid, prog.addresses["alpha"])
        assert sym.stats.cache_hits == hits + 1
        assert sym.stats.unsymbolized == 0


def test_address_past_a_symbols_end_is_in_no_symbol(layout_binary, no_fd_leak):
    # beta is 64-byte aligned, so padding that belongs to no symbol lies between alpha and beta
    # (nm is the oracle that it is not covered by any symbol).
    symbols = sorted(
        (start, start + size, name) for name, (start, size) in nm_symbols(layout_binary).items()
    )
    alpha_start, alpha_size = nm_symbols(layout_binary)["alpha"]
    gap_vaddr = alpha_start + alpha_size
    assert not any(s <= gap_vaddr < e for s, e, _ in symbols), "no gap after alpha in this build"
    with running(layout_binary) as prog, Symbolizer() as sym:
        runtime = prog.addresses["alpha"] + alpha_size
        frames = sym.user_frames(prog.pid, runtime)
        assert len(frames) == 1
        assert frames[0].kind == UNKNOWN
        assert frames[0].function == f"{layout_binary.name}+0x{gap_vaddr:x}"
        assert sym.stats.unsymbolized == 1


def test_lld_puts_code_at_an_address_other_than_its_file_offset(build_dir):
    require_tool("ld.lld")
    binary = compile_c(PROGRAM_C, build_dir / "prog-lld-check", *LAYOUTS["lld-pie"])
    with ElfFile.open(str(binary)) as elf:
        code = [p for p in elf.load_segments() if p.flags & PF_X]
    # The precondition that makes the lld layouts above a real test of address translation.
    assert code and all(p.offset != p.vaddr for p in code)


def test_shared_library_function(shared_program, no_fd_leak):
    library = shared_program.parent / "libshared.so"
    _, size = nm_symbols(library, dynamic=True)["shared_fn"]
    with running(shared_program) as prog, Symbolizer() as sym:
        addr = prog.addresses["shared_fn"]
        for inside in (addr, addr + size - 1):
            (frame,) = sym.user_frames(prog.pid, inside)
            assert frame.function == "shared_fn"
            assert os.path.realpath(frame.module_path) == os.path.realpath(library)
        # The main program's functions in the same process still resolve.
        assert sym.user_frames(prog.pid, prog.addresses["beta"])[0].function == "beta"


def test_user_stack_looks_up_callers_one_byte_earlier(layout_binary, no_fd_leak):
    sizes = nm_symbols(layout_binary)
    with running(layout_binary) as prog, Symbolizer() as sym:
        alpha = prog.addresses["alpha"]
        end_of_alpha = alpha + sizes["alpha"][1]
        # As a leaf, the address just past alpha is in no symbol; as a return address (a call as
        # alpha's last instruction) it belongs to alpha.
        frames = sym.user_stack(prog.pid, [alpha, end_of_alpha])
        assert [f.function for f in frames] == ["alpha", "alpha"]
        assert [f.address for f in frames] == [alpha, end_of_alpha]
        assert sym.user_frames(prog.pid, end_of_alpha)[0].kind == UNKNOWN


def test_library_of_the_current_process():
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    with Symbolizer() as sym:
        (frame, *_) = sym.user_frames(os.getpid(), addr)
    # getpid is a weak alias of __getpid in glibc: either name is right.
    assert frame.function.lstrip("_") == "getpid"
    assert "libc" in os.path.basename(frame.module_path)


def test_unknown_process_gives_unknown_frame():
    with Symbolizer(refresh_interval=3600) as sym:
        pid = 2**22 + 12345  # above pid_max's largest value: never a live process
        assert sym.snapshot(pid) is False
        (frame,) = sym.user_frames(pid, 0x401000)
        assert frame.kind == UNKNOWN and frame.function == "[unknown]"
        assert sym.stats.unsymbolized == 1 and sym.stats.snapshot_failures >= 1
        failures = sym.stats.snapshot_failures
        sym.user_stack(pid, [0x401000, 0x401010, 0x401020])
        assert sym.stats.snapshot_failures == failures  # /proc is not asked for every address
        assert sym.stats.unsymbolized == 4


def test_address_caches_stay_within_their_budget(layout_binary, no_fd_leak):
    with running(layout_binary) as prog, Symbolizer(max_cached_addresses=8) as sym:
        start = prog.addresses["alpha"]
        for addr in range(start, start + 20):
            assert sym.user_frames(prog.pid, addr)[0].address == addr
        cached = sum(len(m.derived["symbolize"].frames) for m in sym.registry.snapshots())
        assert 0 < cached <= 8
        assert sym.user_frames(prog.pid, start)[-1].function == "alpha"
