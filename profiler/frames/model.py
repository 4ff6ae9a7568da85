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
PYTHON = "python"  # a CPython frame (code object, file, line): see profiler.python
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Module:
    """The object a frame's code lies in (pprof's ``Mapping``), one value shared by its frames.

    ``path`` is the binary's path as the process sees it, or a pseudo name: ``[kernel.kallsyms]``
    (and ``[module]`` for kernel modules), ``[vdso]``, ``[jit]``, ``[thread]``... ``start``,
    ``limit`` and ``offset`` are the runtime mapping (0 when there is none).
    """

    path: str
    build_id: str = ""  # hex GNU build id, "" if unknown
    start: int = 0
    limit: int = 0
    offset: int = 0


KERNEL_MODULE = Module("[kernel.kallsyms]")
PYTHON_MODULE = Module("[python]")  # every CPython frame's (output.frame_kinds colours it)


@dataclass(frozen=True, slots=True)
class Frame:
    """One symbolized frame of a stack.

    ``function`` is the display name (demangled). ``inlined`` marks a frame that the compiler
    inlined into the next frame of the stack (its caller): such frames share the caller's
    address and become extra lines of one pprof Location. ``module`` is shared by every frame of
    the same mapping (so the pprof builder interns it once).
    """

    function: str
    file: str = ""
    line: int = 0
    address: int = 0  # the sampled address (runtime address in the process), 0 if none
    module: Module | None = None
    kind: str = USER  # USER | KERNEL | JIT | PYTHON | UNKNOWN
    inlined: bool = False
    is_async: bool = False  # an async fn body (Rust futures), see profiler.frames.async_stacks
    start_line: int = 0  # the function's first line (pprof Function.start_line), 0: unknown
    system_name: str = ""  # pprof Function.system_name where it differs from ``function``
    # The hash, computed once: stacks are merged by their tuples of frames, thousands of
    # times a second, and the generated hash would hash every field of every frame each time.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "_hash",
            hash(
                (
                    self.function, self.file, self.line, self.address, self.module, self.kind,
                    self.inlined, self.is_async, self.start_line, self.system_name,
                )
            ),
        )  # fmt: skip

    def __hash__(self) -> int:
        return self._hash

    @property
    def module_path(self) -> str:
        """The module's path ("" when the frame has no module)."""
        return self.module.path if self.module is not None else ""


@dataclass(frozen=True, slots=True)
class SymbolizedSample:
    """A sample after symbolization: one stack of frames, leaf first, and its labels."""

    frames: tuple[Frame, ...]
    count: int
    labels: dict[str, str | int] = field(default_factory=dict)
    off_cpu_ns: int = 0  # blocked time (off-CPU samples: count is then 0)
