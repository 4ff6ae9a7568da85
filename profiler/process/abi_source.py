"""The process layer's C declarations (``openat2(2)``, ``process_vm_readv(2)``), in one place.

Like pybpf's (:mod:`pybpf.abi_source`), they are not parsed at run time:
``python -m profiler.process.abi_source --write`` renders them into
:mod:`profiler.process._abi` (cffi's out-of-line ABI mode, pre-parsed type tables), which
:mod:`profiler.process.syscalls` loads. Change a declaration here, then regenerate; a test
fails while the committed module is stale. They are kept apart from pybpf's so that pybpf
declares nothing it does not use itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pybpf.abi_codegen import main as _codegen_main

#: The generated module and where it lives.
MODULE_NAME = "profiler.process._abi"
MODULE_PATH = Path(__file__).with_name("_abi.py")

#: The declarations, in cffi's cdef dialect (C with ``...`` for variadic functions).
CDEF = """
    /* libc: both calls go through syscall(2) (openat2 has no glibc wrapper before 2.38) */
    long syscall(long number, ...);

    /* include/uapi/linux/openat2.h */
    struct open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };

    /* include/uapi/linux/uio.h, for process_vm_readv(2) */
    struct iovec { void *iov_base; size_t iov_len; };
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m profiler.process.abi_source --write|--check``: regenerate or check ``_abi``."""
    return _codegen_main(
        argv,
        cdef=CDEF,
        module_name=MODULE_NAME,
        source_module="profiler.process.abi_source",
        path=MODULE_PATH,
    )


if __name__ == "__main__":
    sys.exit(main())
