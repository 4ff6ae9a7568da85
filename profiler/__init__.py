"""profiler: the eBPF CPU profiler agent built on pybpf and pprof_encoder.

``from profiler import Session, SessionOptions`` is the library entry point (imported lazily, so
``import profiler`` stays cheap).
"""

__version__ = "0.1.0"

__all__ = [
    "CollectedProfile",
    "FrameOptions",
    "SamplingOptions",
    "Session",
    "SessionOptions",
    "Targets",
    "__version__",
]


def __getattr__(name: str) -> object:
    if name in ("Session", "SessionOptions", "FrameOptions", "SamplingOptions", "Targets"):
        from . import session

        return getattr(session, name)
    if name == "CollectedProfile":
        from .output.collected import CollectedProfile

        return CollectedProfile
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
