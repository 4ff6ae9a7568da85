"""The process layer's pre-parsed cffi module (profiler/process/_abi.py): current, equal to
parsing its declarations, and the real calls work through it without pycparser."""

from __future__ import annotations

from profiler.process import abi_source
from pybpf import abi_codegen
from tests.pybpf_runtime.abi_layouts import describe, run_python


def test_committed_module_matches_a_fresh_rendering():
    """A declaration changed without `python -m profiler.process.abi_source --write` fails."""
    fresh = abi_codegen.render(
        abi_source.CDEF, abi_source.MODULE_NAME, "profiler.process.abi_source"
    )
    assert abi_source.MODULE_PATH.read_text() == fresh, (
        "profiler/process/_abi.py is stale: run python -m profiler.process.abi_source --write"
    )


def test_pre_parsed_types_equal_runtime_parsed():
    """``struct open_how``, ``struct iovec`` and ``syscall`` as cdef() would parse them."""
    from profiler.process._abi import ffi

    pre_parsed = describe(ffi, ["syscall"])
    assert pre_parsed == describe(abi_codegen.runtime_ffi(abi_source.CDEF), ["syscall"])
    assert pre_parsed["struct open_how"][0] == 24  # the size openat2(2) is told


def test_calls_work_without_pycparser(tmp_path):
    """openat2 of a file and process_vm_readv of our own memory, in a fresh interpreter that
    never imports pycparser."""
    (tmp_path / "f").write_bytes(b"hello")
    result = run_python(
        "import os, sys\n"
        "from profiler.process.syscalls import calls\n"
        f"dir_fd = os.open({str(tmp_path)!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
        "fd = calls().openat2(dir_fd, 'f', os.O_RDONLY | os.O_CLOEXEC, 0x08)  # RESOLVE_BENEATH\n"
        "data = os.read(fd, 16)\n"
        "os.close(fd); os.close(dir_fd)\n"
        "buf = bytearray(b'process_vm_readv')\n"
        "import ctypes\n"
        "address = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))\n"
        "got = calls().process_vm_readv(os.getpid(), address, len(buf))\n"
        "print(data.decode(), got.decode(), 'pycparser' in sys.modules)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hello", "process_vm_readv", "False"]
