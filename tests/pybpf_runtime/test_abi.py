"""pybpf's pre-parsed cffi module: current, equal to parsing the declarations, no pycparser."""

from __future__ import annotations

import re

from pybpf import abi, abi_codegen, abi_source
from tests.pybpf_runtime.abi_layouts import describe, run_python

FUNCTIONS = re.findall(r"\b(\w+)\(", re.sub(r"/\*.*?\*/", "", abi_source.CDEF, flags=re.S))


def test_committed_module_matches_a_fresh_rendering():
    """A declaration changed without `python -m pybpf.abi_source --write` fails here."""
    fresh = abi_codegen.render(abi_source.CDEF, abi_source.MODULE_NAME, "pybpf.abi_source")
    assert abi_source.MODULE_PATH.read_text() == fresh, (
        "pybpf/_abi.py is stale: run python -m pybpf.abi_source --write"
    )


def test_check_and_write_command(tmp_path, capsys):
    """``--check`` fails on a stale file, ``--write`` renders it, then ``--check`` passes."""
    target = tmp_path / "_abi.py"
    target.write_text("# stale\n")
    kwargs = dict(
        cdef=abi_source.CDEF,
        module_name=abi_source.MODULE_NAME,
        source_module="pybpf.abi_source",
        path=target,
    )
    assert abi_codegen.main(["--check"], **kwargs) == 1
    assert "stale" in capsys.readouterr().err
    assert abi_codegen.main(["--write"], **kwargs) == 0
    assert target.read_text() == abi_source.MODULE_PATH.read_text()
    assert abi_codegen.main(["--check"], **kwargs) == 0


def test_pre_parsed_types_equal_runtime_parsed():
    """The generated tables give every struct, field, bit-field and function the same layout
    and signature as ``cdef()`` parsing the same declarations at run time (the fallback)."""
    assert abi.PRE_PARSED
    assert {"syscall", "ioctl", "mount", "pthread_mutex_lock"} <= set(FUNCTIONS)
    runtime = abi_codegen.runtime_ffi(abi_source.CDEF)
    pre_parsed = describe(abi.ffi, FUNCTIONS)
    assert pre_parsed == describe(runtime, FUNCTIONS)
    # The check covers what pybpf relies on: the attrs, the info structs, perf_event_attr.
    assert pre_parsed["struct perf_event_attr"][0] == 128
    assert "struct bpf_attr_prog_load" in pre_parsed and "struct bpf_map_info" in pre_parsed


def test_importing_pybpf_does_not_import_pycparser():
    """Importing pybpf's kernel-facing modules loads the pre-parsed ffi: no pycparser, no cffi
    package (only its ``_cffi_backend``)."""
    result = run_python(
        "import sys\n"
        "import pybpf.maps, pybpf.perf_event, pybpf.attach, pybpf.perf_buffer, pybpf.ringbuf\n"
        "import pybpf.tracefs, pybpf.uprobe, pybpf.features, pybpf.programs, pybpf.abi\n"
        "pybpf.syscall.kernel().getrlimit(pybpf.syscall.RLIMIT_MEMLOCK)\n"
        "print(pybpf.abi.PRE_PARSED, sorted(m for m in sys.modules\n"
        "      if m.split('.')[0] in ('pycparser', 'cffi')))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True []"


def test_backend_that_rejects_the_tables_falls_back_to_parsing():
    """If ``pybpf._abi`` cannot be imported (as with a backend that does not know its
    ``_version``), pybpf parses the declarations at import and works the same."""
    result = run_python(
        "import sys\n"
        "sys.modules['pybpf._abi'] = None  # makes `from ._abi import ffi` raise ImportError\n"
        "from pybpf import abi, bpf_attr, perf_event, syscall\n"
        "assert not abi.PRE_PARSED and 'pycparser' in sys.modules\n"
        "attr = perf_event.new_attr(type=1, disabled=1, freq=1)\n"
        "print(abi.ffi.sizeof('struct perf_event_attr'),\n"
        "      bpf_attr.attr_size(bpf_attr.Cmd.PROG_LOAD),\n"
        "      syscall.kernel().getrlimit(syscall.RLIMIT_MEMLOCK) is not None,\n"
        "      int.from_bytes(bytes(abi.ffi.buffer(attr))[40:48], 'little'))\n"
    )
    assert result.returncode == 0, result.stderr
    size, prog_load, rlimit_ok, flags = result.stdout.split()
    assert (int(size), rlimit_ok) == (128, "True")
    assert int(prog_load) == abi.ffi.sizeof("struct bpf_attr_prog_load")
    assert int(flags) == (1 << 0) | (1 << 10)  # the flag word: disabled is bit 0, freq bit 10
