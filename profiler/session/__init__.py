"""The profiler as a library: :class:`Session` (start, stop, take a profile) and its options.

Names are imported on first use, so importing the options does not load the kernel side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .options import (
        FrameOptions,
        OffCpuOptions,
        OptionError,
        SamplingOptions,
        SessionOptions,
        Targets,
    )
    from .session import Session, UnknownProcessError

__all__ = [
    "FrameOptions",
    "OffCpuOptions",
    "OptionError",
    "SamplingOptions",
    "Session",
    "SessionOptions",
    "Targets",
    "UnknownProcessError",
]


def __getattr__(name: str) -> object:
    if name in ("Session", "UnknownProcessError"):
        from . import session

        return getattr(session, name)
    if name in __all__:
        from . import options

        return getattr(options, name)
    raise AttributeError(f"module 'profiler.session' has no attribute {name!r}")
