"""The symbolizer: sampled addresses (user or kernel) to :class:`~profiler.frames.model.Frame`s."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence

from ..elf.errors import FormatError
from ..elf.file import ElfFile
from ..frames.model import JIT, KERNEL, KERNEL_MODULE, UNKNOWN, USER, Frame, Module
from ..process.maps import Mapping, ProcessMaps
from ..process.registry import ProcessRegistry
from ..process.vdso import VDSO, vdso_image
from .binary import MAX_ELF_SIZE, Binary
from .debug_files import DEFAULT_DEBUG_ROOTS, DebugFileFinder
from .kallsyms import KernelSymbols, kernel_build_id
from .perf_map import PerfMap, load_perf_map
from .stats import SymbolizerStats

log = logging.getLogger(__name__)

MAX_KERNEL_CACHE = 1 << 14
MAX_CACHED_PER_PROCESS = 1 << 12  # addresses per process; the cache is cleared past this
# Shared anonymous memory (/dev/zero, SysV shm) shows up as files, but never holds an ELF image.
_NOT_ELF_PREFIXES = ("/dev/", "/SYSV")
JIT_PATH = "[jit]"
UNKNOWN_MODULE = Module("[unknown]")


def _load_demangler() -> Callable[[str], str]:
    """``profiler.demangle.demangle``, or the identity while that package is absent."""
    try:
        from ..demangle import demangle
    except ImportError:
        return str
    return demangle


class _ProcessSymbols:
    """What the symbolizer derives from one maps snapshot (kept in ``ProcessMaps.derived``)."""

    __slots__ = ("binaries", "frames", "modules", "resolved", "unknown_at")

    def __init__(self, n: int) -> None:
        self.binaries: list[Binary | None] = [None] * n
        self.resolved = [False] * n
        self.modules: list[Module | None] = [None] * n  # shared by every frame of the mapping
        self.frames: dict[int, tuple[Frame, ...]] = {}  # address key -> frames
        self.unknown_at: dict[int, float] = {}  # key -> when it was last found unknown

    def remember(self, key: int, frames: tuple[Frame, ...]) -> None:
        if len(self.frames) >= MAX_CACHED_PER_PROCESS:
            self.frames.clear()
            self.unknown_at.clear()
        self.frames[key] = frames


def _symbols_of(maps: ProcessMaps) -> _ProcessSymbols:
    state = maps.derived.get("symbolize")
    if state is None:
        state = maps.derived["symbolize"] = _ProcessSymbols(len(maps.mappings))
    return state


class Symbolizer:
    """Turn sampled addresses into frames, caching by build id and by process.

    ``registry``: the session's :class:`~profiler.process.registry.ProcessRegistry`, whose maps
    snapshots this symbolizer shares (a private one when not given, reading ``proc``, re-reading
    a process's maps at most every ``refresh_interval`` seconds when an address falls outside
    them). ``debug_roots``: where separate debug files live (``/usr/lib/debug``). ``use_dwarf``:
    ask ``profiler.symbolize.dwarf`` for file:line and inlined frames where a binary (or its
    debug file) has DWARF; ``dwarf_from_debug_files``: False reads DWARF only from the binaries
    themselves (a separate debug file still gives symbols). ``kernel_refresh_interval``: at most
    this often, a kernel address past the core kernel that no symbol covers makes us re-read
    kallsyms (modules and BPF programs loaded later). ``max_cached_addresses``: the budget of
    the per-process address caches together (about half a kilobyte each). ``kallsyms_path``
    exists for tests.

    Frames come innermost first (inlined frames before the function that holds them). Call
    :meth:`close` (or use ``with``) to drop everything held.
    """

    def __init__(
        self,
        *,
        registry: ProcessRegistry | None = None,
        debug_roots: Sequence[str] = DEFAULT_DEBUG_ROOTS,
        use_dwarf: bool = True,
        dwarf_from_debug_files: bool = True,
        refresh_interval: float = 1.0,
        kernel_refresh_interval: float = 30.0,
        max_cached_addresses: int = 1 << 14,
        proc: str = "/proc",
        kallsyms_path: str = "/proc/kallsyms",
    ) -> None:
        self.stats = SymbolizerStats()
        self.use_dwarf = use_dwarf
        self.dwarf_from_debug_files = dwarf_from_debug_files
        self.registry = registry or ProcessRegistry(proc, refresh_interval)
        self.registry.add_listener(self._on_forget)
        self.max_cached_addresses = max_cached_addresses
        self._cached = 0  # entries added to the per-process caches since they were last cleared
        self._proc = self.registry.proc
        self._kallsyms_path = kallsyms_path
        self._finder = DebugFileFinder(debug_roots)
        self._demangle: Callable[[str], str] | None = None
        self._by_build_id: dict[str, Binary] = {}
        self._by_file: dict[tuple[int, int, int, int], Binary] = {}
        self._binaries: list[Binary] = []
        self._perf_maps: dict[int, PerfMap] = {}
        self._perf_map_checked: dict[int, float] = {}  # pid -> when we last looked for its map
        self._kernel: KernelSymbols | None = None
        self._kernel_module = KERNEL_MODULE
        self._kernel_modules: dict[str, Module] = {}
        self._kernel_loaded_at = 0.0
        self.kernel_refresh_interval = kernel_refresh_interval
        self._kernel_cache: dict[int, tuple[Frame, ...]] = {}

    @property
    def refresh_interval(self) -> float:
        """How often at most a process's maps (and perf map) are re-read on a miss."""
        return self.registry.refresh_interval

    # -- processes ------------------------------------------------------------------------------

    def snapshot(self, pid: int, *, load_symbols: bool = True) -> bool:
        """Record ``pid``'s mappings now, so its addresses symbolize after it exits.

        Its binaries are identified now (build id, program headers); with ``load_symbols`` their
        symbol tables are loaded now too (each distinct build id once), so nothing depends on the
        process's files later. Returns ``False`` (and keeps any earlier snapshot) if the process
        is already gone.
        """
        maps = self.registry.snapshot(pid)
        if maps is None or maps.exited:
            self.stats.snapshot_failures += 1
            return False
        self.stats.snapshots += 1
        # Identify every binary now (ELF headers and build id: a few small reads, once per
        # file): after the process exits its files may be unreachable, but another copy of the
        # same build can still be read.
        for i in range(len(maps.mappings)):
            binary = self._binary_for(maps, i)
            if binary is not None and load_symbols:
                binary.load()
        return True

    def forget(self, pid: int) -> None:
        """Drop ``pid``'s snapshot and perf map (binaries stay cached by build id)."""
        self.registry.forget(pid)

    def _on_forget(self, pid: int, exited: bool) -> None:
        self._perf_maps.pop(pid, None)
        self._perf_map_checked.pop(pid, None)

    def processes(self) -> list[int]:
        """The pids with a snapshot."""
        return self.registry.pids()

    # -- user addresses ---------------------------------------------------------------------

    def user_frames(self, pid: int, addr: int) -> list[Frame]:
        """The frames at ``addr`` in process ``pid``, innermost first (never empty)."""
        return list(self._user(pid, self.registry.maps(pid), addr, addr))

    def user_stack(self, pid: int, addrs: Iterable[int]) -> list[Frame]:
        """Symbolize a whole user stack (leaf first) into one list of frames, leaf first.

        Addresses after the first are return addresses: they are looked up one byte earlier so
        the call instruction (not the next line, or the next function after a ``noreturn`` call)
        is named; each frame still reports the address as sampled.
        """
        maps = self.registry.maps(pid)
        frames: list[Frame] = []
        lookup_offset = 0
        for addr in addrs:
            frames.extend(self._user(pid, maps, addr, addr - lookup_offset))
            lookup_offset = 1
        return frames

    def _user(
        self, pid: int, maps: ProcessMaps | None, addr: int, lookup: int
    ) -> tuple[Frame, ...]:
        stats = self.stats
        stats.addresses += 1
        stats.user_addresses += 1
        key = addr if addr == lookup else -addr
        if maps is not None:
            state = _symbols_of(maps)
            hit = state.frames.get(key)
            if hit is not None and (
                hit[0].kind != UNKNOWN
                # An unknown address may become known (a JIT writes its perf map after running
                # the code, a library gets mapped): ask again once the answer is old enough.
                or maps.exited
                or time.monotonic() - state.unknown_at.get(key, 0.0) < self.refresh_interval
            ):
                stats.cache_hits += 1
                if hit[0].kind == UNKNOWN:
                    stats.unsymbolized += 1
                return hit
        frames = self._resolve(pid, maps, addr, lookup)
        maps = self.registry.maps(pid)  # _resolve may have taken a fresh snapshot
        if maps is None:
            if frames[0].kind == UNKNOWN:
                stats.unsymbolized += 1
            return frames
        state = _symbols_of(maps)
        if frames[0].kind == UNKNOWN:
            stats.unsymbolized += 1
            state.unknown_at[key] = time.monotonic()
        self._cached += 1
        if self._cached > self.max_cached_addresses:
            # ~0.5 KB per entry: past the budget, start the per-process caches afresh (the
            # per-binary caches make refilling them cheap).
            for snapshot in self.registry.snapshots():
                held = snapshot.derived.get("symbolize")
                if held is not None:
                    held.frames.clear()
                    held.unknown_at.clear()
            self._cached = 1
        state.remember(key, frames)
        return frames

    def _resolve(
        self, pid: int, maps: ProcessMaps | None, addr: int, lookup: int
    ) -> tuple[Frame, ...]:
        """Frames for ``lookup`` in ``pid`` (re-reading its maps if ``lookup`` is in none)."""
        index = maps.index(lookup) if maps is not None else None
        if index is None and maps is not None and not maps.exited:
            fresh = self.registry.refresh(pid)
            if fresh is not None and fresh is not maps:
                self.stats.snapshot_refreshes += 1
                maps = fresh
                index = maps.index(lookup)
        if index is None or maps is None:
            jit = self._jit_frame(pid, addr, lookup, None)
            if jit is not None:
                return (jit,)
            self.stats.no_mapping += 1
            return (Frame("[unknown]", address=addr, module=UNKNOWN_MODULE, kind=UNKNOWN),)
        mapping = maps.mappings[index]
        binary = self._binary_for(maps, index)
        module = self._module(maps, index, binary)
        if binary is None:
            jit = self._jit_frame(pid, addr, lookup, mapping)
            if jit is not None:
                return (jit,)
            name = mapping.path or "[anon]"
            return (
                Frame(
                    f"{os.path.basename(name) or name}+0x{lookup - mapping.start:x}",
                    address=addr,
                    module=module,
                    kind=UNKNOWN,
                ),
            )
        vaddr = binary.vaddr(lookup - mapping.start + mapping.offset)
        lines = binary.lines(vaddr)
        if not lines:
            name = mapping.path
            return (
                Frame(
                    f"{os.path.basename(name) or name}+0x{vaddr:x}",
                    address=addr,
                    module=module,
                    kind=UNKNOWN,
                ),
            )
        return tuple(
            Frame(
                function,
                file=file,
                line=line,
                address=addr,
                module=module,
                kind=USER,
                inlined=inlined,
            )
            for function, file, line, inlined in lines
        )

    def _module(self, maps: ProcessMaps, index: int, binary: Binary | None) -> Module:
        """The one :class:`Module` value of a mapping, made once per snapshot."""
        state = _symbols_of(maps)
        module = state.modules[index]
        if module is None:
            m = maps.mappings[index]
            module = state.modules[index] = Module(
                m.path or "[anon]",
                build_id=binary.build_id if binary is not None else "",
                start=m.start,
                limit=m.end,
                offset=m.offset,
            )
        return module

    def _jit_frame(self, pid: int, addr: int, lookup: int, mapping: Mapping | None) -> Frame | None:
        """A JIT frame from the process's perf map, re-reading the map when it changed."""
        perf_map = self._perf_maps.get(pid)
        found = perf_map.lookup(lookup) if perf_map is not None else None
        now = time.monotonic()
        if found is None and now - self._perf_map_checked.get(pid, -1e9) >= self.refresh_interval:
            self._perf_map_checked[pid] = now
            fresh = load_perf_map(pid, self.registry.info(pid), perf_map, self._proc)
            if fresh is not None:
                perf_map = self._perf_maps[pid] = fresh
                found = perf_map.lookup(lookup)
        if found is None:
            return None
        self.stats.jit_frames += 1
        module = Module(
            JIT_PATH,
            start=mapping.start if mapping else 0,
            limit=mapping.end if mapping else 0,
            offset=mapping.offset if mapping else 0,
        )
        return Frame(found[0], address=addr, module=module, kind=JIT)

    # -- binaries -------------------------------------------------------------------------------

    def _binary_for(self, maps: ProcessMaps, index: int) -> Binary | None:
        state = _symbols_of(maps)
        if state.resolved[index]:
            return state.binaries[index]
        state.resolved[index] = True
        mapping = maps.mappings[index]
        binary = None
        if mapping.path == VDSO and maps.pid is not None:
            binary = self._vdso_binary(maps.pid, mapping)
        elif mapping.is_file and not mapping.path.startswith(_NOT_ELF_PREFIXES):
            binary = self._file_binary(maps, mapping)
        state.binaries[index] = binary
        return binary

    def _new_binary(self, elf: ElfFile, sources: list, display: str, pid: int | None) -> Binary:
        if self._demangle is None:
            self._demangle = _load_demangler()
        binary = Binary(
            elf,
            sources,
            finder=self._finder,
            demangle=self._demangle,
            counters=self.stats,
            display_path=display,
            pid=pid,
            proc=self._proc,
            use_dwarf=self.use_dwarf,
            dwarf_from_debug_files=self.dwarf_from_debug_files,
        )
        if elf.build_id:
            self._by_build_id[elf.build_id] = binary
        self._binaries.append(binary)
        self.stats.binaries += 1
        return binary

    def _file_binary(self, maps: ProcessMaps, mapping: Mapping) -> Binary | None:
        """The binary of a file mapping, opened the safe way (see ``ProcessMaps.source``)."""
        source = maps.source(mapping)
        try:
            fd = source.open(MAX_ELF_SIZE)
        except OSError:
            self.stats.unreadable += 1
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            self.stats.unreadable += 1
            return None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        binary = self._by_file.get(key)
        if binary is not None:
            os.close(fd)
            binary.add_sources([source])
            return binary
        try:
            elf = ElfFile.from_fd(fd, mapping.path)
        except (OSError, FormatError):
            self.stats.unreadable += 1
            return None
        with elf:
            binary = self._by_build_id.get(elf.build_id) if elf.build_id else None
            if binary is None:
                binary = self._new_binary(elf, [source], mapping.path, maps.pid)
            else:  # the same build at another path (another container, a copy)
                binary.add_sources([source])
        self._by_file[key] = binary
        return binary

    def _vdso_binary(self, pid: int, mapping: Mapping) -> Binary | None:
        image, origin = vdso_image(pid, mapping, self._proc)
        if image is None:
            self.stats.vdso_unreadable += 1
            log.debug("vdso of pid %d not symbolized: %s", pid, origin)
            return None
        try:
            elf = ElfFile.from_bytes(image, VDSO)
        except FormatError:
            self.stats.vdso_unreadable += 1
            return None
        binary = self._by_build_id.get(elf.build_id) if elf.build_id else None
        if binary is None:
            binary = self._new_binary(elf, [], VDSO, None)
            binary.load()
        return binary

    # -- kernel addresses -------------------------------------------------------------------

    def kernel_symbols(self) -> KernelSymbols:
        """The kernel's symbol table (``/proc/kallsyms``), loaded on first use."""
        if self._kernel is None:
            try:
                self._kernel = KernelSymbols.load(self._kallsyms_path)
            except OSError as e:
                log.warning("cannot read %s: %s; kernel frames stay unknown", e.filename, e)
                self._kernel = KernelSymbols([])
            self._kernel_module = Module(KERNEL_MODULE.path, build_id=kernel_build_id())
            self._kernel_loaded_at = time.monotonic()
            if self._kernel.restricted:
                self.stats.kallsyms_restricted = True
                log.warning(
                    "%s shows every address as 0 (kernel.kptr_restrict): kernel frames will be "
                    "[unknown]; run as root or set sysctl kernel.kptr_restrict=0",
                    self._kallsyms_path,
                )
        return self._kernel

    def _kernel_stale(self) -> bool:
        return time.monotonic() - self._kernel_loaded_at >= self.kernel_refresh_interval

    def kernel_frames(self, addr: int) -> list[Frame]:
        """The frame at kernel address ``addr`` (one frame; ``[unknown]`` if not found)."""
        return list(self._kernel_frame(addr, addr))

    def kernel_stack(self, addrs: Iterable[int]) -> list[Frame]:
        """Symbolize a kernel stack (leaf first); callers are looked up at return address - 1."""
        frames: list[Frame] = []
        lookup_offset = 0
        for addr in addrs:
            frames.extend(self._kernel_frame(addr, addr - lookup_offset))
            lookup_offset = 1
        return frames

    def _kernel_frame(self, addr: int, lookup: int) -> tuple[Frame, ...]:
        stats = self.stats
        stats.addresses += 1
        stats.kernel_addresses += 1
        key = addr if addr == lookup else -addr
        hit = self._kernel_cache.get(key)
        if hit is not None:
            stats.cache_hits += 1
            return hit
        kernel = self.kernel_symbols()
        found = kernel.lookup(lookup)
        if (found is None or found[2]) and lookup >= kernel.core_end and self._kernel_stale():
            # A module or BPF program (they live past the core kernel) loaded after we read
            # kallsyms: read it again, at most once per kernel_refresh_interval. Cached frames
            # stay: they were right when made, and clearing them would make every interval reload.
            self._kernel = None
            kernel = self.kernel_symbols()
            found = kernel.lookup(lookup)
        if found is None:
            # Not cached: it may be named once kallsyms is read again.
            stats.unsymbolized += 1
            return (Frame("[unknown]", address=addr, module=self._kernel_module, kind=KERNEL),)
        name, _, module_name = found
        frame = Frame(
            name,
            address=addr,
            module=self._kernel_module_of(module_name),
            kind=KERNEL,
        )
        if len(self._kernel_cache) >= MAX_KERNEL_CACHE:
            self._kernel_cache.clear()
        self._kernel_cache[key] = (frame,)
        return (frame,)

    def _kernel_module_of(self, name: str) -> Module:
        """The module of a kernel frame: the kernel itself, or ``[name]`` for a kernel module."""
        if not name:
            return self._kernel_module
        module = self._kernel_modules.get(name)
        if module is None:
            module = self._kernel_modules[name] = Module(f"[{name}]")
        return module

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every snapshot and cache, and release what DWARF readers hold."""
        for binary in self._binaries:
            binary.close()
        self._binaries.clear()
        self._by_build_id.clear()
        self._by_file.clear()
        self.registry.clear()
        self._perf_maps.clear()
        self._perf_map_checked.clear()
        self._kernel_cache.clear()
        self._kernel = None

    def __enter__(self) -> Symbolizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
