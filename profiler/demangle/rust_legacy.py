"""Rust's legacy symbol mangling: ``_ZN<len><ident>...17h<16 hex digits>E``.

Legacy symbols borrow the Itanium nested-name syntax; the identifiers escape the characters C++
cannot hold (``$LT$`` is ``<``, ``$u7b$`` is ``{``, ``..`` is ``::``) and the last element is a
hash. A symbol counts as Rust when that hash is there (``h`` + 16 hex digits, with at least five
different digits, the test GNU ``c++filt`` applies) and every element is plain ASCII with known
escapes; otherwise it is left to the Itanium demangler.
"""

from __future__ import annotations

_ESCAPES = {
    "SP": "@",
    "BP": "*",
    "RF": "&",
    "LT": "<",
    "GT": ">",
    "LP": "(",
    "RP": ")",
    "C": ",",
}
_HEX = frozenset("0123456789abcdef")


def _split_elements(symbol: str) -> list[str] | None:
    """The ``<len><ident>`` elements between ``_ZN`` and ``E``, or None if malformed."""
    if symbol.startswith("_ZN"):
        pos = 3
    elif symbol.startswith("__ZN"):
        pos = 4
    else:
        return None
    n = len(symbol)
    elements = []
    while pos < n and symbol[pos] != "E":
        start = pos
        while pos < n and symbol[pos].isdigit():
            pos += 1
        if start == pos:
            return None
        length = int(symbol[start:pos])
        end = pos + length
        if length == 0 or end > n:
            return None
        elements.append(symbol[pos:end])
        pos = end
    if pos >= n:
        return None
    # Anything after the final E is a suffix from LLVM or GCC (".llvm.123", ".cold"); c++filt
    # drops it for Rust symbols, and so do we.
    rest = symbol[pos + 1 :]
    if rest and not rest.startswith("."):
        return None
    return elements


def is_rust_hash(element: str) -> bool:
    """Whether ``element`` is a legacy hash: ``h`` and 16 hex digits, 5+ of them distinct."""
    return (
        len(element) == 17
        and element[0] == "h"
        and all(c in _HEX for c in element[1:])
        and len(set(element[1:])) >= 5
    )


def _valid_chars(element: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "_$.") for c in element)


def _unescape(element: str) -> str:
    """Decode one identifier's ``$..$`` escapes and ``..`` separators.

    Like c++filt, an escape it does not know (``$u1f$``, ``$XX$``) is printed as it stands,
    together with the rest of the identifier.
    """
    if element.startswith("_$"):
        element = element[1:]
    out = []
    i = 0
    n = len(element)
    while i < n:
        c = element[i]
        if c == "$":
            end = element.find("$", i + 1)
            code = element[i + 1 : end] if end > 0 else ""
            decoded = _ESCAPES.get(code)
            if decoded is None and len(code) == 3 and code[0] == "u":
                if code[1] in _HEX and code[2] in _HEX and 0x20 <= int(code[1:], 16) <= 0x7F:
                    decoded = chr(int(code[1:], 16))
            if decoded is None:
                out.append(element[i:])
                break
            out.append(decoded)
            i = end + 1
        elif c == "." and element.startswith("..", i):
            out.append("::")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def demangle_rust_legacy(symbol: str, keep_hash: bool = False) -> str | None:
    """Demangle a legacy Rust symbol, or None if it is not one (then try Itanium).

    ``keep_hash=False`` drops the trailing ``::h<hash>`` like ``rustc-demangle``'s ``{:#}`` and
    ``c++filt -i``; ``keep_hash=True`` keeps it like plain ``c++filt``.
    """
    elements = _split_elements(symbol)
    if not elements or len(elements) < 2 or not is_rust_hash(elements[-1]):
        return None
    if not all(_valid_chars(element) for element in elements):
        return None
    parts = [_unescape(element) for element in elements[:-1]]
    if keep_hash:
        parts.append(elements[-1])
    return "::".join(parts)
