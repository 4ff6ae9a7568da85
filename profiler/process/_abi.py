# Generated: do not edit. Regenerate with `python -m profiler.process.abi_source --write`
# after changing the declarations there (a test compares this file with a fresh rendering).
# cffi out-of-line ABI mode: the types are pre-parsed, so importing this module needs no
# pycparser and no compiler.
# ruff: noqa
# fmt: off
# auto-generated file
import _cffi_backend

ffi = _cffi_backend.FFI('profiler.process._abi',
    _version = 0x2601,
    _types = b'\x00\x00\x01\x0D\x00\x00\x09\x01\x00\x00\x01\x0F\x00\x00\x1C\x01\x00\x00\x00\x09\x00\x00\x01\x09\x00\x00\x18\x01\x00\x00\x08\x03\x00\x00\x00\x01',
    _globals = (b'\x00\x00\x00\x23syscall',0,),
    _struct_unions = ((b'\x00\x00\x00\x04\x00\x00\x00\x02iovec',b'\x00\x00\x07\x11iov_base',b'\x00\x00\x03\x11iov_len'),(b'\x00\x00\x00\x05\x00\x00\x00\x02open_how',b'\x00\x00\x06\x11flags',b'\x00\x00\x06\x11mode',b'\x00\x00\x06\x11resolve')),
)
