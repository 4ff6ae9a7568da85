"""Rust symbols (legacy and v0) of programs built here and of the toolchain's std, checked
against GNU c++filt: ``c++filt -i`` for the default (hash dropped) form, plain ``c++filt`` for
``keep_hash=True``.

Intentional differences from c++filt, which follow rustc-demangle instead (see
``oracles.rustc_demangle_form``): integer const generics print as ``3usize`` (c++filt: ``3:
usize``), printable non-ASCII char constants print as themselves (c++filt: ``'\\u{df}'``), and
integer constants wider than 64 bits print correctly (c++filt garbles them).
"""

from __future__ import annotations

import re

import pytest

from profiler.demangle import demangle, demangle_rust_legacy, demangle_rust_v0
from tests.support import skip_or_fail

from .oracles import (
    build_rust,
    cxxfilt,
    elf_symbol_names,
    libiberty_wide_const_bug,
    mismatches,
    rust_std_libraries,
    rustc_demangle_form,
)


@pytest.fixture(scope="module")
def rust_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Symbols of programs/features.rs built with each mangling."""
    out = str(tmp_path_factory.mktemp("rust"))
    return {m: elf_symbol_names(build_rust(out, m)) for m in ("legacy", "v0")}


def _check_against_cxxfilt(symbols: list[str]) -> None:
    for keep_hash, flags in ((False, ["-i"]), (True, [])):
        gnu = [rustc_demangle_form(line) for line in cxxfilt(symbols, *flags)]
        ours = [demangle(s, keep_hash=keep_hash) for s in symbols]
        bad = mismatches(symbols, ours, gnu)
        assert not bad, f"keep_hash={keep_hash}: {len(bad)} of {len(symbols)}:\n" + "\n".join(
            bad[:20]
        )


def test_legacy_program_matches_cxxfilt(rust_builds: dict[str, list[str]]) -> None:
    legacy = [s for s in rust_builds["legacy"] if re.search(r"17h[0-9a-f]{16}E", s)]
    assert len(legacy) > 50
    _check_against_cxxfilt(legacy)


def test_v0_program_matches_cxxfilt(rust_builds: dict[str, list[str]]) -> None:
    v0 = [s for s in rust_builds["v0"] if s.startswith("_R")]
    assert len(v0) > 200
    _check_against_cxxfilt(v0)


def test_v0_program_reads_like_rust(rust_builds: dict[str, list[str]]) -> None:
    # What the source of programs/features.rs says these items are called.
    names = {demangle(s) for s in rust_builds["v0"]}
    expected = {
        "features::größe",  # a punycode identifier
        "features::main",
        "features::generic::<alloc::string::String, [f32; 2]>",
        "<features::Flag<true>>::get",
        "<features::Letter<'ß'>>::get",
        "<features::Offset<-7>>::apply",
        "<features::Square<3> as features::Shape>::area",
        "features::with_dyn",
    }
    assert expected <= names, expected - names
    text = "\n".join(names)
    for construct in ("{closure#0}", "{shim:vtable#0}", "dyn features::Shape + core::marker::Send"):
        assert construct in text, construct


def test_legacy_and_v0_builds_name_functions_alike(rust_builds: dict[str, list[str]]) -> None:
    # A profile of the same program must not change its function names with the mangling,
    # except where legacy cannot say more (it has no generic arguments).
    legacy = {demangle(s) for s in rust_builds["legacy"] if s.startswith("_ZN")}
    v0 = {demangle(s) for s in rust_builds["v0"] if s.startswith("_R")}
    for name in ("features::main", "features::with_dyn", "features::with_raw"):
        assert name in legacy and name in v0


def test_rust_std_library_matches_cxxfilt() -> None:
    libraries = rust_std_libraries()
    if not libraries:
        skip_or_fail("no rustup toolchain with a libstd-*.so")
    symbols: dict[str, None] = {}
    for path in libraries:
        for name in elf_symbol_names(path):
            rust = name.startswith("_R") or re.search(r"17h[0-9a-f]{16}E", name)
            if rust and not libiberty_wide_const_bug(name):
                symbols[name] = None
    assert len(symbols) > 1000
    _check_against_cxxfilt(list(symbols))


def test_legacy_hash_dropped_by_default_and_kept_on_request() -> None:
    symbol = "_ZN4core3ptr13drop_in_place17h8a1c9d7e2f3b4a56E"
    assert demangle(symbol) == "core::ptr::drop_in_place"
    assert demangle(symbol, keep_hash=True) == "core::ptr::drop_in_place::h8a1c9d7e2f3b4a56"
    assert demangle(symbol) == cxxfilt([symbol], "-i")[0]
    assert demangle(symbol, keep_hash=True) == cxxfilt([symbol])[0]


def test_legacy_escapes() -> None:
    symbols = [
        "_ZN102_$LT$core..iter..adapters..map..Map$LT$I$C$F$GT$$u20$as$u20$core..iter..traits"
        "..iterator..Iterator$GT$4fold17hafff75238d86d8d8E",
        "_ZN4core3fmt5write28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE",
        "_ZN3foo9$RF$$BP$$SP$17h0123456789abcdefE",
        "_ZN3foo8$LP$$RP$17h0123456789abcdefE.llvm.12345",
        "_ZN3foo6$u7e$a17h0123456789abcdefE",
        "_ZN3foo7$u1f$ab17h0123456789abcdefE",  # not an escape c++filt accepts: printed as is
    ]
    _check_against_cxxfilt(symbols)
    assert demangle(symbols[0]) == (
        "<core::iter::adapters::map::Map<I,F> as core::iter::traits::iterator::Iterator>::fold"
    )


def test_hash_lookalikes_are_cxx() -> None:
    # c++filt treats a "hash" with fewer than 5 distinct hex digits as an ordinary C++ name.
    symbols = ["_ZN3foo3bar17h0000000000000000E", "_ZN3foo3bar17h0123000000000000E"]
    for symbol in symbols:
        assert demangle_rust_legacy(symbol) is None
    _check_against_cxxfilt(symbols)


def test_v0_crate_disambiguator_dropped_by_default() -> None:
    symbol = "_RNvCs1234_7mycrate3foo"
    assert demangle(symbol) == "mycrate::foo"
    assert re.fullmatch(r"mycrate\[[0-9a-f]+\]::foo", demangle(symbol, keep_hash=True))
    _check_against_cxxfilt([symbol])


def test_v0_rejects_malformed_input() -> None:
    for broken in ("_R", "_RNvC3foo", "_RB_", "_RNvB0_3foo", "_R1NvC3foo3bar", "_RNvC3fooé3bar"):
        assert demangle_rust_v0(broken) is None
        assert demangle(broken) == broken
