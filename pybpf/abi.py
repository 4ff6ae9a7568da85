"""pybpf's one cffi ``ffi`` and its one libc handle (``libc = ffi.dlopen(None)``).

``ffi`` comes from :mod:`pybpf._abi`, generated from :mod:`pybpf.abi_source` (cffi's out-of-line
ABI mode: pre-parsed type tables, so importing pybpf imports no pycparser and compiles nothing).
Every pybpf module allocates and casts with this ``ffi``; every libc call goes through ``libc``.

Fallback: a ``_cffi_backend`` that cannot read the generated tables raises ImportError (every
cffi since 1.0 reads their format, ``_version = 0x2601``; a future one might drop it). pybpf then
parses :data:`pybpf.abi_source.CDEF` at import instead, as before the module was generated:
the same types, ~40 ms slower. :data:`PRE_PARSED` says which path was taken.
"""

from __future__ import annotations

from typing import Any

ffi: Any
try:
    from ._abi import ffi

    #: True when ``ffi`` was built from the pre-parsed tables (no pycparser at import).
    PRE_PARSED = True
except ImportError:
    from .abi_codegen import runtime_ffi
    from .abi_source import CDEF

    ffi = runtime_ffi(CDEF)
    PRE_PARSED = False

#: The C library of this process, for the functions declared in :mod:`pybpf.abi_source`.
libc: Any = ffi.dlopen(None)
