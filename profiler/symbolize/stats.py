"""Counters a :class:`~.symbolizer.Symbolizer` keeps, so nothing it fails at is silent."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class SymbolizerStats:
    """What the symbolizer did and what it could not do.

    ``addresses`` counts every address asked for (user and kernel), ``cache_hits`` those answered
    from a cache, ``unsymbolized`` those that got no function name (``[unknown]`` or
    ``module+0xoffset`` frames).
    """

    addresses: int = 0
    user_addresses: int = 0
    kernel_addresses: int = 0
    cache_hits: int = 0
    unsymbolized: int = 0
    no_mapping: int = 0  # user address outside every mapping of the snapshot
    jit_frames: int = 0  # answered from a perf map
    snapshots: int = 0
    snapshot_refreshes: int = 0  # re-read maps because an address fell outside every mapping
    snapshot_failures: int = 0  # the process was already gone
    binaries: int = 0  # distinct ELF images (by build id, else by file)
    symbol_tables: int = 0  # symbol tables loaded
    debug_files: int = 0  # separate debug files found
    dwarf: int = 0  # DWARF readers opened
    dwarf_errors: int = 0
    unreadable: int = 0  # binaries we could not open (gone, or no permission)
    vdso_unreadable: int = 0
    kallsyms_restricted: bool = False  # kernel.kptr_restrict hid kernel addresses

    def as_dict(self) -> dict[str, int | bool]:
        """The counters as a plain dict (for logs and metrics)."""
        return asdict(self)
