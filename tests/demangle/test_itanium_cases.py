"""Itanium C++ grammar features one by one, each checked against GNU c++filt (the oracle).

The inputs are hand-written mangled names, one or more per feature of the ABI; the expected
output is whatever c++filt prints for them in the same run.
"""

from __future__ import annotations

import pytest

from profiler.demangle import demangle, demangle_itanium

from .oracles import cxxfilt

FEATURES = {
    "nested names": ["_ZN3foo3bar3bazEv", "_ZN3Foo3barEv", "_ZNK3Foo3barEv"],
    "templates": ["_Z1fIiEvT_", "_ZN3FooIiE3barIcEEvT_", "_Z1fILi5EEvv", "_Z1fILj5EEvv"],
    "substitutions": ["_ZN3FooaSERKS_", "_Z1fN1a1bEN1a1cES0_", "_Z1fPiS_"],
    "template parameters": ["_Z1fIiJcdEEvT_DpT0_", "_ZN1AIiE1fIcEEvT_"],
    "std abbreviations": [
        "_Z1fSs",
        "_ZNSsC1Ev",
        "_Z1fSiSoSd",
        "_ZNSdD0Ev",
        "_Z1fSaIcE",
        "_Z1fSbIwE",
    ],
    "std namespace": [
        "_ZNSt6vectorIiSaIiEE9push_backEOi",
        "_ZSt4moveIRiEONSt16remove_referenceIT_E4typeEOS2_",
    ],
    "constructors and destructors": [
        "_ZN3FooC1Ev",
        "_ZN3FooC2ERKS_",
        "_ZN3FooD0Ev",
        "_ZN1AIiEC2Ev",
    ],
    "operators": [
        "_ZN3FoocviEv",
        "_ZN3FooclEv",
        "_ZN3FooixEi",
        "_ZN3FoonwEm",
        "_ZN3FoodaEPv",
        "_ZN3FooltIiEEbT_",
        "_ZlsRSoRK3Foo",
        "_ZN3FooplERKS_",
        "_ZN3FoossERKS_",
        "_Zli2_xPKcm",
    ],
    "cv qualifiers": ["_Z1fPVKi", "_Z1fPKc", "_Z1fKPc", "_ZNKR3Foo3barEv", "_ZNKO3Foo3barEv"],
    "function parameters": ["_Z1fPKcz", "_Z1fz", "_Z1fv", "_Z1fsilxyhtjm", "_Z1fbcwDiDsDuDnDa"],
    "pointers and references": ["_Z1fRi", "_Z1fOi", "_Z1fPPi", "_Z1fRKSt6vectorIiSaIiEE"],
    "function pointers": [
        "_Z1fPFviE",
        "_Z1fPFPFivEvE",
        "_Z1fPFPcvE",
        "_Z1fPFRA3_ivE",
        "_Z1fPKFviE",
    ],
    "member pointers": ["_Z1fM3FooFviE", "_Z1fM3FooKFviE", "_Z1fM3Fooi"],
    "arrays": ["_Z1fA3_A4_i", "_Z1fPA3_i", "_Z1fRA3_i", "_Z1fA3_PKc"],
    "function types": ["_Z1fSt8functionIFivEE", "_Z1fPDoFvvE", "_Z1fIiEvPFT_vE"],
    "lambdas": ["_ZZ4mainENKUlvE_clEv", "_ZZ4mainENKUliE0_clEi", "_ZZ1fvENKUlT_E_clIiEEDaS_"],
    "local names": ["_ZZ1fvE1x", "_ZZ1fvEs", "_ZZ1fvE1x_0", "_ZZN1A1fEvE1x", "_ZGVZ1fvE1x"],
    "unnamed types": ["_ZN3FooUt_E", "_ZN3FooUt0_E"],
    "anonymous namespace": ["_ZN12_GLOBAL__N_13fooEv", "_ZN12_GLOBAL__N_1L3fooEv", "_ZL3foov"],
    "special names": [
        "_ZTV3Foo",
        "_ZTI3Foo",
        "_ZTS3Foo",
        "_ZTT3Foo",
        "_ZThn8_N3Foo3barEv",
        "_ZTv0_n24_N3Foo3barEv",
        "_ZTCN3Foo3BarE0_3Baz",
        "_ZTW1x",
        "_ZTH1x",
        "_ZGR1x0",
        "_ZTA1x",
    ],
    "clone suffixes": [
        "_Z1fv.cold",
        "_Z1fv.isra.0",
        "_Z1fv.constprop.0.isra.0",
        "_Z1fv.part.0",
        "_Z1fv.llvm.1234",
    ],
    "abi tags": ["_ZN3FooB5cxx113barEv", "_Z3fooB5cxx11v", "_ZNK6shapes5Shape4nameB5cxx11Ev"],
    "global constructors": ["_GLOBAL__sub_I_main.cpp", "_GLOBAL__I_foo", "_GLOBAL__D__Z1fv"],
    "literals": ["_Z1fILc97EEvv", "_Z1fILb1EEvv", "_Z1fILln5EEvv", "_Z1fILDnEEvv", "_Z1fILDn0EEvv"],
    "argument packs": ["_Z1fIJicEEvDpT_", "_Z1fIJicEEvDpRKT_", "_Z1fIJEEvDpT_"],
    "expressions": [
        "_Z1fIiEDTplfp_fp_ET_",
        "_Z1fIiEDTcl1gfp_EET_",
        "_Z1fIiEDTcvT_fp_ET_",
        "_Z1fIiEDTszfp_ET_",
        "_Z1fIJiEEDTsZT_EDpT_",
        "_Z1fIiEDTdtfp_1xET_",
        "_Z1fIiEDTptfp_1xET_",
        "_Z1fIiEDTsrT_1xET_",
        "_Z1fIiEDTgtfp_fp_ET_",
        "_Z1fIiEDTixfp_fp_ET_",
        "_Z1fIiEDTcldtfp_4sizeEET_",
        "_Z1fIiEDTcl1gspfp_EET_",
        "_Z1fIXadL_Z1gvEEEvv",
        "_ZN5Outer5InnerIXplLi1ELi2EEEE",
        "_Z1fDTstiE",
    ],
    "vendor extensions": ["_Z1fDv4_f", "_Z1fU3fooi", "_Z1fCd"],
    "conversion operator templates": ["_ZNK3FoocvT_IiEEv"],
    "not mangled": ["main", "_start", "_Z", "_ZN", "_Zx", "_GLOBAL_OFFSET_TABLE_", "__Z1fv"],
}

CASES = [(feature, symbol) for feature, symbols in FEATURES.items() for symbol in symbols]


@pytest.fixture(scope="module")
def gnu() -> dict[str, str]:
    """c++filt's output for every case, from one c++filt process."""
    symbols = [symbol for _, symbol in CASES]
    return dict(zip(symbols, cxxfilt(symbols), strict=True))


@pytest.mark.parametrize(("feature", "symbol"), CASES, ids=[f"{f}:{s}" for f, s in CASES])
def test_matches_cxxfilt(gnu: dict[str, str], feature: str, symbol: str) -> None:
    assert demangle(symbol) == gnu[symbol], feature


def test_unparseable_itanium_is_none_and_demangle_leaves_it() -> None:
    for broken in ("_ZN3foo", "_Z1fS_", "_Z1fT_", "_ZN3FooIiE3barIcEEvT_T0_", "_Z3foo!"):
        assert demangle_itanium(broken) is None
        assert demangle(broken) == broken


def test_symbol_version_suffix_is_kept() -> None:
    # nm -D prints versioned names; c++filt demangles the name and keeps "@VERSION".
    symbol = "_ZNSo3putEc@@GLIBCXX_3.4"
    assert demangle(symbol) == cxxfilt([symbol])[0]
    assert demangle(symbol).endswith("@@GLIBCXX_3.4")
