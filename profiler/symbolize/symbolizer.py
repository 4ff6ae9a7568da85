"""The symbolizer: sampled addresses (user or kernel) to :class:`~profiler.frames.model.Frame`s."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence

from ..elf.errors import FormatError
from ..elf.file import ElfFile
from ..frames.model import JIT, KERNEL, UNKNOWN, USER, Frame
from ..process.maps import Mapping
from .binary import Binary
from .debug_files import DEFAULT_DEBUG_ROOTS, DebugFileFinder
from .kallsyms import KernelSymbols, kernel_build_id
from .perf_map import PerfMap, perf_map_paths
from .process import ProcessSnapshot
from .stats import SymbolizerStats
from .vdso import VDSO, vdso_image

log = logging.getLogger(__name__)

MAX_KERNEL_CACHE = 1 << 16
# Shared anonymous memory (/dev/zero, SysV shm) shows up as files, but never holds an ELF image.
_NOT_ELF_PREFIXES = ("/dev/", "/SYSV")


def _load_demangler() -> Callable[[str], str]:
    """``profiler.demangle.demangle``, or the identity while that package is absent."""
    try:
        from ..demangle import demangle
    except ImportError:
        return str
    return demangle


class Symbolizer:
    """Turn sampled addresses into frames, caching by build id and by process.

    ``debug_roots``: where separate debug files live (``/usr/lib/debug``). ``use_dwarf``: ask
    ``profiler.symbolize.dwarf`` for file:line and inlined frames where a binary (or its debug
    file) has DWARF. ``refresh_interval``: at most this often (seconds) per process, an address
    outside every known mapping makes us re-read ``/proc/PID/maps`` (dlopen, JIT).
    ``kernel_refresh_interval``: at most this often, a kernel address past the core kernel that
    no symbol covers makes us re-read kallsyms (modules and BPF programs loaded later).
    ``max_cached_addresses``: the budget of the per-process address caches together (about half
    a kilobyte each). ``proc`` and ``kallsyms_path`` exist for tests.

    Frames come innermost first (inlined frames before the function that holds them). Call
    :meth:`close` (or use ``with``) to drop everything held.
    """

    def __init__(
        self,
        *,
        debug_roots: Sequence[str] = DEFAULT_DEBUG_ROOTS,
        use_dwarf: bool = True,
        refresh_interval: float = 1.0,
        kernel_refresh_interval: float = 30.0,
        max_cached_addresses: int = 1 << 15,
        proc: str = "/proc",
        kallsyms_path: str = "/proc/kallsyms",
    ) -> None:
        self.stats = SymbolizerStats()
        self.use_dwarf = use_dwarf
        self.refresh_interval = refresh_interval
        self.max_cached_addresses = max_cached_addresses
        self._cached = 0  # entries added to the per-process caches since they were last cleared
        self._proc = proc
        self._kallsyms_path = kallsyms_path
        self._finder = DebugFileFinder(debug_roots)
        self._demangle: Callable[[str], str] | None = None
        self._processes: dict[int, ProcessSnapshot] = {}
        self._missing: dict[int, float] = {}  # pid -> when reading its maps failed
        self._by_build_id: dict[str, Binary] = {}
        self._by_file: dict[tuple[int, int, int, int], Binary] = {}
        self._binaries: list[Binary] = []
        self._perf_maps: dict[int, PerfMap] = {}
        self._perf_map_checked: dict[int, float] = {}  # pid -> when we last looked for its map
        self._kernel: KernelSymbols | None = None
        self._kernel_build_id = ""
        self._kernel_loaded_at = 0.0
        self.kernel_refresh_interval = kernel_refresh_interval
        self._kernel_cache: dict[int, tuple[Frame, ...]] = {}

    # -- processes ------------------------------------------------------------------------------

    def snapshot(self, pid: int, *, load_symbols: bool = True) -> bool:
        """Record ``pid``'s mappings now, so its addresses symbolize after it exits.

        Its binaries are identified now (build id, program headers); with ``load_symbols`` their
        symbol tables are loaded now too (each distinct build id once), so nothing depends on the
        process's files later. Returns ``False`` (and
        keeps any earlier snapshot) if the process is already gone.
        """
        proc = self._take(pid)
        if proc is None:
            return False
        # Identify every binary now (ELF headers and build id: a few small reads, once per
        # file): after the process exits its files may be unreachable, but another copy of the
        # same build can still be read.
        for i in range(len(proc.mappings)):
            binary = self._binary_for(proc, i)
            if binary is not None and load_symbols:
                binary.load()
        return True

    def forget(self, pid: int) -> None:
        """Drop ``pid``'s snapshot and perf map (binaries stay cached by build id)."""
        self._processes.pop(pid, None)
        self._perf_maps.pop(pid, None)
        self._perf_map_checked.pop(pid, None)

    def processes(self) -> list[int]:
        """The pids with a snapshot."""
        return list(self._processes)

    def _take(self, pid: int) -> ProcessSnapshot | None:
        try:
            proc = ProcessSnapshot.take(pid, self._proc)
        except OSError:
            self.stats.snapshot_failures += 1
            old = self._processes.get(pid)
            if old is not None:
                old.exited = True
            return None
        old = self._processes.get(pid)
        if not proc.mappings and old is not None and old.mappings:
            # A zombie (or a process mid-exit) has no mappings left: keep what we saw alive.
            old.exited = True
            return old
        self.stats.snapshots += 1
        self._processes[pid] = proc
        return proc

    # -- user addresses ---------------------------------------------------------------------

    def user_frames(self, pid: int, addr: int) -> list[Frame]:
        """The frames at ``addr`` in process ``pid``, innermost first (never empty)."""
        return list(self._user(pid, self._process(pid), addr, addr))

    def user_stack(self, pid: int, addrs: Iterable[int]) -> list[Frame]:
        """Symbolize a whole user stack (leaf first) into one list of frames, leaf first.

        Addresses after the first are return addresses: they are looked up one byte earlier so
        the call instruction (not the next line, or the next function after a ``noreturn`` call)
        is named; each frame still reports the address as sampled.
        """
        proc = self._process(pid)
        frames: list[Frame] = []
        lookup_offset = 0
        for addr in addrs:
            frames.extend(self._user(pid, proc, addr, addr - lookup_offset))
            lookup_offset = 1
        return frames

    def _process(self, pid: int) -> ProcessSnapshot | None:
        proc = self._processes.get(pid)
        if proc is None:
            # A process gone before we saw it: do not try /proc for each of its addresses.
            failed_at = self._missing.get(pid)
            if failed_at is not None and time.monotonic() - failed_at < self.refresh_interval:
                return None
            proc = self._take(pid)
            if proc is None:
                if len(self._missing) >= MAX_KERNEL_CACHE:
                    self._missing.clear()
                self._missing[pid] = time.monotonic()
            else:
                self._missing.pop(pid, None)
        return proc

    def _user(
        self, pid: int, proc: ProcessSnapshot | None, addr: int, lookup: int
    ) -> tuple[Frame, ...]:
        stats = self.stats
        stats.addresses += 1
        stats.user_addresses += 1
        key = addr if addr == lookup else -addr
        if proc is not None:
            hit = proc.frames.get(key)
            if hit is not None and (
                hit[0].kind != UNKNOWN
                # An unknown address may become known (a JIT writes its perf map after running
                # the code, a library gets mapped): ask again once the answer is old enough.
                or proc.exited
                or time.monotonic() - proc.unknown_at.get(key, 0.0) < self.refresh_interval
            ):
                stats.cache_hits += 1
                if hit[0].kind == UNKNOWN:
                    stats.unsymbolized += 1
                return hit
        frames = self._resolve(pid, proc, addr, lookup)
        proc = self._processes.get(pid)  # _resolve may have taken a fresh snapshot
        if frames[0].kind == UNKNOWN:
            stats.unsymbolized += 1
            if proc is not None:
                proc.unknown_at[key] = time.monotonic()
        if proc is not None:
            self._cached += 1
            if self._cached > self.max_cached_addresses:
                # ~0.5 KB per entry: past the budget, start the per-process caches afresh (the
                # per-binary caches make refilling them cheap).
                for snapshot in self._processes.values():
                    snapshot.frames.clear()
                    snapshot.unknown_at.clear()
                self._cached = 1
            proc.remember(key, frames)
        return frames

    def _resolve(
        self, pid: int, proc: ProcessSnapshot | None, addr: int, lookup: int
    ) -> tuple[Frame, ...]:
        """Frames for ``lookup`` in ``pid`` (re-reading its maps if ``lookup`` is in none)."""
        index = proc.find(lookup) if proc is not None else None
        if index is None and proc is not None and not proc.exited:
            # The first miss after a snapshot re-reads the maps at once (a snapshot taken at exec
            # time has no libraries yet); later ones at most once per refresh_interval.
            if not proc.is_refresh or time.monotonic() - proc.taken_at >= self.refresh_interval:
                self.stats.snapshot_refreshes += 1
                fresh = self._take(pid)
                if fresh is not None and fresh is not proc:
                    fresh.is_refresh = True
                    proc = fresh
                    index = proc.find(lookup)
        if index is None or proc is None:
            jit = self._jit_frame(pid, proc, addr, lookup, None)
            if jit is not None:
                return (jit,)
            self.stats.no_mapping += 1
            return (Frame("[unknown]", address=addr, module="[unknown]", kind=UNKNOWN),)
        mapping = proc.mappings[index]
        binary = self._binary_for(proc, index)
        if binary is None:
            jit = self._jit_frame(pid, proc, addr, lookup, mapping)
            if jit is not None:
                return (jit,)
            module = mapping.path or "[anon]"
            return (
                Frame(
                    f"{os.path.basename(module) or module}+0x{lookup - mapping.start:x}",
                    address=addr,
                    module=module,
                    kind=UNKNOWN,
                    mapping_start=mapping.start,
                    mapping_limit=mapping.end,
                    mapping_offset=mapping.offset,
                ),
            )
        vaddr = binary.vaddr(lookup - mapping.start + mapping.offset)
        lines = binary.lines(vaddr)
        module = mapping.path
        if not lines:
            return (
                Frame(
                    f"{os.path.basename(module) or module}+0x{vaddr:x}",
                    address=addr,
                    module=module,
                    build_id=binary.build_id,
                    kind=UNKNOWN,
                    mapping_start=mapping.start,
                    mapping_limit=mapping.end,
                    mapping_offset=mapping.offset,
                ),
            )
        build_id = binary.build_id
        return tuple(
            Frame(
                function,
                file=file,
                line=line,
                address=addr,
                module=module,
                build_id=build_id,
                kind=USER,
                inlined=inlined,
                mapping_start=mapping.start,
                mapping_limit=mapping.end,
                mapping_offset=mapping.offset,
            )
            for function, file, line, inlined in lines
        )

    def _jit_frame(
        self,
        pid: int,
        proc: ProcessSnapshot | None,
        addr: int,
        lookup: int,
        mapping: Mapping | None,
    ) -> Frame | None:
        """A JIT frame from the process's perf map, re-reading the map when it changed."""
        perf_map = self._perf_maps.get(pid)
        found = perf_map.lookup(lookup) if perf_map is not None else None
        now = time.monotonic()
        if found is None and now - self._perf_map_checked.get(pid, -1e9) >= self.refresh_interval:
            self._perf_map_checked[pid] = now
            nspid = proc.namespace_pid if proc is not None else None
            for path in perf_map_paths(pid, nspid, self._proc):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                identity = (st.st_ino, st.st_size, st.st_mtime_ns)
                if perf_map is None or perf_map.identity != identity:
                    try:
                        perf_map = PerfMap.load(path)
                    except (OSError, FormatError):
                        continue
                    self._perf_maps[pid] = perf_map
                    found = perf_map.lookup(lookup)
                break
        if found is None:
            return None
        self.stats.jit_frames += 1
        return Frame(
            found[0],
            address=addr,
            module="[jit]",
            kind=JIT,
            mapping_start=mapping.start if mapping else 0,
            mapping_limit=mapping.end if mapping else 0,
            mapping_offset=mapping.offset if mapping else 0,
        )

    # -- binaries -------------------------------------------------------------------------------

    def _binary_for(self, proc: ProcessSnapshot, index: int) -> Binary | None:
        if proc.resolved[index]:
            return proc.binaries[index]  # type: ignore[return-value]
        proc.resolved[index] = True
        mapping = proc.mappings[index]
        binary = None
        if mapping.path == VDSO:
            binary = self._vdso_binary(proc, mapping)
        elif mapping.is_file and not mapping.path.startswith(_NOT_ELF_PREFIXES):
            binary = self._file_binary(proc, mapping)
        proc.binaries[index] = binary
        return binary

    def _new_binary(self, elf: ElfFile, paths: list[str], display: str, root: str) -> Binary:
        if self._demangle is None:
            self._demangle = _load_demangler()
        binary = Binary(
            elf,
            paths,
            finder=self._finder,
            demangle=self._demangle,
            counters=self.stats,
            display_path=display,
            root_prefix=root,
            use_dwarf=self.use_dwarf,
        )
        if elf.build_id:
            self._by_build_id[elf.build_id] = binary
        self._binaries.append(binary)
        self.stats.binaries += 1
        return binary

    def _file_binary(self, proc: ProcessSnapshot, mapping: Mapping) -> Binary | None:
        """The binary of a file mapping, read via the process's root (containers) or map_files."""
        map_files = f"{self._proc}/{proc.pid}/map_files/{mapping.map_files_name}"
        rooted = proc.root + mapping.path
        if mapping.deleted:  # the path may now name a different file: only map_files is it
            candidates = [map_files]
        else:
            candidates = [rooted, map_files, mapping.path]
        for n, path in enumerate(candidates):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_ino != mapping.inode:  # not the file the process mapped
                continue
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            binary = self._by_file.get(key)
            if binary is None:
                try:
                    elf = ElfFile.open(path)
                except (OSError, FormatError):
                    continue
                with elf:
                    binary = self._by_build_id.get(elf.build_id) if elf.build_id else None
                    if binary is None:
                        binary = self._new_binary(elf, candidates[n:], mapping.path, proc.root)
                    else:  # the same build at another path (another container, a copy)
                        binary.add_paths(candidates[n:])
                if path == map_files:  # gone with the process: read the symbols while we can
                    binary.load()
                self._by_file[key] = binary
            return binary
        self.stats.unreadable += 1
        return None

    def _vdso_binary(self, proc: ProcessSnapshot, mapping: Mapping) -> Binary | None:
        image, origin = vdso_image(proc.pid, mapping, self._proc)
        if image is None:
            self.stats.vdso_unreadable += 1
            log.debug("vdso of pid %d not symbolized: %s", proc.pid, origin)
            return None
        try:
            elf = ElfFile.from_bytes(image, VDSO)
        except FormatError:
            self.stats.vdso_unreadable += 1
            return None
        binary = self._by_build_id.get(elf.build_id) if elf.build_id else None
        if binary is None:
            binary = self._new_binary(elf, [], VDSO, "")
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
            self._kernel_build_id = kernel_build_id()
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
            return (Frame("[unknown]", address=addr, module="[kernel]", kind=KERNEL),)
        name, _, module = found
        frame = Frame(
            name,
            address=addr,
            module=f"[{module}]" if module else "[kernel]",
            build_id="" if module else self._kernel_build_id,
            kind=KERNEL,
        )
        if len(self._kernel_cache) >= MAX_KERNEL_CACHE:
            self._kernel_cache.clear()
        self._kernel_cache[key] = (frame,)
        return (frame,)

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every snapshot and cache, and release what DWARF readers hold."""
        for binary in self._binaries:
            binary.close()
        self._binaries.clear()
        self._by_build_id.clear()
        self._by_file.clear()
        self._processes.clear()
        self._missing.clear()
        self._perf_maps.clear()
        self._perf_map_checked.clear()
        self._kernel_cache.clear()
        self._kernel = None

    def __enter__(self) -> Symbolizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
