"""profiler: the eBPF CPU profiler agent built on pybpf and pprof_encoder."""

__version__ = "0.1.0"
