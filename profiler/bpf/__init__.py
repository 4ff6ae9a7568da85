"""The kernel side of the profiler: the DSL-built sampling program and its maps."""
