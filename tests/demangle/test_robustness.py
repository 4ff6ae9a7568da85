"""Hostile and random input: the demanglers never raise, never hang, never blow the stack.

``demangle`` swallows any exception by contract, so these tests call the three scheme-specific
demanglers directly too: each must return a string or None, never raise.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.demangle import demangle, demangle_itanium, demangle_rust_legacy, demangle_rust_v0
from profiler.demangle.rust_v0 import MAX_OUTPUT

from .test_itanium_cases import CASES

# Characters mangled names are made of, weighted towards the grammar's letters.
MANGLING_ALPHABET = "_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ$."
REAL = [symbol for _, symbol in CASES if symbol.startswith("_Z")] + [
    "_ZN4core3ptr13drop_in_place17h8a1c9d7e2f3b4a56E",
    "_RNvMs_Cs86zEVutDZHT_8featuresINtB4_4FlagKb1_E3getB4_",
    "_RINvNtCs8NwYtU1Mohg_4core3ptr13drop_in_placeINtNtCs1_5alloc5boxed3BoxDNtB2_3AnyEL_EEB8_",
    "_RNvCs86zEVutDZHT_8featuresu9gre_6ka8i",
]
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _all_schemes(symbol: str) -> None:
    for result in (
        demangle_itanium(symbol),
        demangle_rust_legacy(symbol),
        demangle_rust_legacy(symbol, keep_hash=True),
        demangle_rust_v0(symbol),
        demangle_rust_v0(symbol, keep_hash=True),
    ):
        assert result is None or isinstance(result, str)
    assert isinstance(demangle(symbol), str)


@FAST
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    result = demangle(text)
    assert isinstance(result, str)
    if not text.startswith(("_Z", "_R", "_GLOBAL_")):
        assert result == text


@FAST
@given(st.sampled_from(["_Z", "_ZN", "_R", "_RN", "_GLOBAL__I_"]), st.text(MANGLING_ALPHABET))
def test_mangling_shaped_noise(prefix: str, body: str) -> None:
    _all_schemes(prefix + body)


@FAST
@given(
    st.sampled_from(REAL),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=30),
    st.text(MANGLING_ALPHABET, max_size=8),
)
def test_mutated_real_symbols(symbol: str, at: int, cut: int, insert: str) -> None:
    at = min(at, len(symbol))
    _all_schemes(symbol[:at] + insert + symbol[at + cut :])


@pytest.mark.parametrize(
    "symbol",
    [
        "_Z1f" + "P" * 100_000 + "i",  # pointer to pointer to ... (recursion depth)
        "_Z" + "N1a" * 50_000 + "E",
        "_Z" + "Z" * 10_000,
        "_Z1fI" + "I" * 20_000 + "i" + "E" * 20_001 + "v",
        "_Z1f" + "A1_" * 30_000 + "i",
        "_R" + "N" * 100_000,
        "_RI" * 30_000 + "C1a",
        "_R" + "A" * 50_000 + "hj1_",
    ],
    ids=lambda s: s[:12] + "..." + str(len(s)),
)
def test_deep_nesting_is_refused_not_crashed(symbol: str) -> None:
    # Too deep for the recursion limits: the symbol comes back unchanged.
    assert demangle(symbol) == symbol
    _all_schemes(symbol)


_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _seq_id(index: int) -> str:
    """Itanium ``S_`` / ``S<base 36>_`` for substitution ``index``."""
    if index == 0:
        return "S_"
    digits, n = "", index - 1
    while True:
        digits = _BASE36[n % 36] + digits
        n //= 36
        if n == 0:
            return "S" + digits + "_"


def _base62(value: int) -> str:
    """v0 ``<base-62-number>``: ``_`` for 0, else digits of value - 1 then ``_``."""
    if value == 0:
        return "_"
    digits, n = "", value - 1
    while True:
        digits = _BASE62[n % 62] + digits
        n //= 62
        if n == 0:
            return digits + "_"


def test_itanium_substitution_bomb_is_refused() -> None:
    # Level k is b<level k-1, level k-1>: 60 levels would print 2**60 copies of "a".
    symbol = "_Z1f1a"
    for level in range(1, 61):
        ref = _seq_id(2 * level - 2)
        symbol += f"1bI{ref}{ref}E"
    assert demangle_itanium(symbol) is None
    assert demangle(symbol) == symbol


def test_itanium_small_bomb_still_demangles() -> None:
    symbol = "_Z1f1a" + "".join(f"1bI{_seq_id(2 * k - 2)}{_seq_id(2 * k - 2)}E" for k in (1, 2))
    assert demangle(symbol) == "f(a, b<a, a>, b<b<a, a>, b<a, a> >)"


def test_rust_backref_bomb_is_refused() -> None:
    # Generic argument k is the tuple (argument k-1, argument k-1), by backreference.
    body = "INvC1a1fu"
    previous = len(body) - 1
    for _ in range(60):
        start = len(body)
        body += f"TB{_base62(previous)}B{_base62(previous)}E"
        previous = start
    symbol = "_R" + body + "E"
    assert demangle_rust_v0(symbol) is None
    assert demangle(symbol) == symbol
    assert len(symbol) < MAX_OUTPUT


def test_rust_small_backref_chain_still_demangles() -> None:
    body = "INvC1a1fu"
    body += f"TB{_base62(8)}B{_base62(8)}E"
    assert demangle("_R" + body + "E") == "a::f::<(), ((), ())>"
