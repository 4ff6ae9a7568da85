"""profiler: the eBPF CPU profiler agent built on pybpf and pprof_encoder."""
