"""The profiler as a library: :class:`Session` (start, stop, take a profile) and its options."""

from .session import PipelineStats, Session, SessionOptions, UnknownProcessError

__all__ = ["PipelineStats", "Session", "SessionOptions", "UnknownProcessError"]
