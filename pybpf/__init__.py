"""pybpf: a pure-Python eBPF toolkit (DSL assembler, maps, programs, perf events, readers).

Nothing is compiled: syscalls go through cffi in ABI mode. See the README for the API.
"""
