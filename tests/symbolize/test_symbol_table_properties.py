"""Property: a symbol table lookup finds a containing symbol exactly when one exists."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.elf.symbols import SymbolTable

symbol_sets = st.dictionaries(
    keys=st.integers(min_value=1, max_value=2000),  # start addresses (unique)
    values=st.integers(min_value=1, max_value=300),  # sizes
    min_size=1,
    max_size=40,
)


def _table(symbols: dict[int, int]) -> SymbolTable:
    starts = sorted(symbols)
    strtab = b"\0" + b"".join(f"f{s}\0".encode() for s in starts)
    offsets, at = {}, 1
    for s in starts:
        offsets[s] = at
        at += len(f"f{s}") + 1
    return SymbolTable([(s, s + symbols[s], offsets[s]) for s in starts], strtab, ".symtab")


@settings(max_examples=200, deadline=None)
@given(symbols=symbol_sets, address=st.integers(min_value=0, max_value=2400))
def test_lookup_finds_a_containing_symbol_iff_there_is_one(symbols, address):
    found = _table(symbols).lookup(address)
    containing = {s for s, size in symbols.items() if s <= address < s + size}
    if not containing:
        assert found is None
    else:
        assert found is not None
        name, start = found
        assert start in containing and name == f"f{start}"
        # The innermost wins when the nearest symbol below the address contains it.
        nearest = max(s for s in symbols if s <= address)
        if nearest in containing:
            assert start == nearest
