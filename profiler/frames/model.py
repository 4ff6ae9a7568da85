"""Symbolized frames and samples: what symbolization produces and the output side reads.

Plain frozen values, so every stage after the drain (symbolize -> frame transforms -> profile) is
testable from recorded input without root. Raw samples, the drain's output, are
:class:`profiler.bpf.samples.RawSample`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Frame kinds.
USER = "user"
KERNEL = "kernel"
JIT = "jit"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Frame:
    """One symbolized frame of a stack.

    ``function`` is the display name (demangled). ``inlined`` marks a frame that the compiler
    inlined into the next frame of the stack (its caller): such frames share the caller's
    address and become extra lines of one pprof Location.
    """

    function: str
    file: str = ""
    line: int = 0
    address: int = 0  # the sampled address (runtime address in the process), 0 if none
    module: str = ""  # the binary's path, "[kernel]", "[vdso]", "[jit]"...
    build_id: str = ""  # hex GNU build id of the module, "" if unknown
    kind: str = USER  # USER | KERNEL | JIT | UNKNOWN
    inlined: bool = False
    is_async: bool = False  # an async fn body (Rust futures), see profiler.frames.async_stacks
    mapping_start: int = 0  # runtime start/limit/file offset of the mapping (pprof Mapping)
    mapping_limit: int = 0
    mapping_offset: int = 0


@dataclass(frozen=True, slots=True)
class SymbolizedSample:
    """A sample after symbolization: one stack of frames, leaf first, and its labels."""

    frames: tuple[Frame, ...]
    count: int
    labels: dict[str, str | int] = field(default_factory=dict)
