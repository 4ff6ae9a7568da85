"""The vdso image of a process: read from ``/proc/PID/mem``, else our own (same kernel, same vdso).

The vdso is an ELF image the kernel maps into every process; it is not a file, so its symbols
must come from memory. Reading another process's memory needs ptrace access (root, or the same
user with ``kernel.yama.ptrace_scope`` allowing it); when that is refused, our own process's vdso
is used if it has the same size: the kernel maps one image per ABI.

The image is read from the target's memory, so it is parsed like any untrusted ELF file
(``ElfFile.from_bytes``: bounded, ``ElfError`` for anything malformed), and at most
:data:`MAX_VDSO_SIZE` bytes are read (a vdso is two to four pages).
"""

from __future__ import annotations

import os

from .maps import Mapping, read_maps

VDSO = "[vdso]"
MAX_VDSO_SIZE = 1 << 20


def read_memory(pid: int | str, start: int, size: int, proc: str = "/proc") -> bytes:
    """``size`` bytes of process ``pid``'s memory at ``start`` (raises ``OSError`` if refused)."""
    fd = os.open(f"{proc}/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, size, start)
    finally:
        os.close(fd)


def own_vdso_image(proc: str = "/proc") -> bytes | None:
    """This process's vdso image, or ``None`` if it has none or it cannot be read."""
    try:
        mapping = next((m for m in read_maps("self", proc) if m.path == VDSO), None)
        if mapping is None or not 0 < mapping.end - mapping.start <= MAX_VDSO_SIZE:
            return None
        return read_memory("self", mapping.start, mapping.end - mapping.start, proc)
    except OSError:
        return None


def vdso_image(pid: int, mapping: Mapping, proc: str = "/proc") -> tuple[bytes | None, str]:
    """The vdso image mapped at ``mapping`` in ``pid`` and where it came from.

    Returns ``(image, "process")``, ``(image, "own")`` (our vdso, same size) or ``(None, why)``.
    """
    size = mapping.end - mapping.start
    if not 0 < size <= MAX_VDSO_SIZE:
        return None, f"a vdso mapping of {size} bytes (at most {MAX_VDSO_SIZE} are read)"
    try:
        image = read_memory(pid, mapping.start, size, proc)
        if image[:4] == b"\x7fELF":
            return image, "process"
    except OSError as e:
        why = f"cannot read /proc/{pid}/mem: {e.strerror}"
    else:
        why = "the process's vdso is not an ELF image"
    own = own_vdso_image(proc)
    if own is not None and len(own) == size:
        return own, "own"
    return None, why
