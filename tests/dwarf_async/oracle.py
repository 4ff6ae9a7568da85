"""The oracle for DWARF lookups: binutils ``addr2line -a -i -f``, one process for many addresses."""

from __future__ import annotations

import re
import subprocess

from tests.support import require_tool

_LLVM_SUFFIX = re.compile(r"\.llvm\.\d+$")
_ADDRESS = re.compile(r"^0x[0-9a-f]+$")

# (function, file, line) innermost first; line 0 where addr2line prints "?".
Chain = list[tuple[str, str, int]]


def _file_line(text: str) -> tuple[str, int]:
    text = text.split(" (discriminator", 1)[0]
    file, _, line = text.rpartition(":")
    return ("" if file == "??" else file), (int(line) if line.isdigit() else 0)


def addr2line_chains(
    binary: str, addresses: list[int], demangle: bool = False, tool_name: str = "addr2line"
) -> dict[int, Chain]:
    """Each address's inline chain as ``addr2line -a -i -f [-C]`` reports it."""
    tool = require_tool(tool_name)
    args = [tool, "-a", "-i", "-f", "-e", binary, *(["-C"] if demangle else [])]
    text = "".join(f"{a:#x}\n" for a in addresses)
    out = subprocess.run(args, input=text, capture_output=True, text=True, check=True).stdout
    chains: dict[int, Chain] = {}
    current: Chain | None = None
    lines = out.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if _ADDRESS.match(line):
            current = chains.setdefault(int(line, 16), [])
            i += 1
            continue
        function = lines[i]
        file, number = _file_line(lines[i + 1]) if i + 1 < len(lines) else ("", 0)
        if current is not None and function != "??":
            # llvm-addr2line names the outermost frame from the symbol table: drop LLVM's
            # local-symbol suffix, which DWARF's linkage names do not have.
            current.append((_LLVM_SUFFIX.sub("", function), file, number))
        i += 2
    return chains
