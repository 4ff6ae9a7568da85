"""Fixed parts of the Itanium C++ mangling grammar: builtin type codes, operator codes, the std
abbreviations, special-name prefixes, and the error a failed parse raises."""

from __future__ import annotations

import re

from .itanium_nodes import Name, StdAbbreviation

BUILTIN_TYPES = {
    "v": "void",
    "w": "wchar_t",
    "b": "bool",
    "c": "char",
    "a": "signed char",
    "h": "unsigned char",
    "s": "short",
    "t": "unsigned short",
    "i": "int",
    "j": "unsigned int",
    "l": "long",
    "m": "unsigned long",
    "x": "long long",
    "y": "unsigned long long",
    "n": "__int128",
    "o": "unsigned __int128",
    "f": "float",
    "d": "double",
    "e": "long double",
    "g": "__float128",
    "z": "...",
}
BUILTIN_D_TYPES = {
    "d": "decimal64",
    "e": "decimal128",
    "f": "decimal32",
    "h": "half",
    "i": "char32_t",
    "s": "char16_t",
    "u": "char8_t",
    "a": "auto",
    "c": "decltype(auto)",
    "n": "decltype(nullptr)",
}
BUILTIN_NODES = {code: Name(text) for code, text in BUILTIN_TYPES.items()}

# Operator name -> (printed text, arity in expressions).
OPERATORS = {
    "nw": ("new", 3),
    "na": ("new[]", 3),
    "dl": ("delete", 1),
    "da": ("delete[]", 1),
    "ps": ("+", 1),
    "ng": ("-", 1),
    "ad": ("&", 1),
    "de": ("*", 1),
    "co": ("~", 1),
    "pl": ("+", 2),
    "mi": ("-", 2),
    "ml": ("*", 2),
    "dv": ("/", 2),
    "rm": ("%", 2),
    "an": ("&", 2),
    "or": ("|", 2),
    "eo": ("^", 2),
    "aS": ("=", 2),
    "pL": ("+=", 2),
    "mI": ("-=", 2),
    "mL": ("*=", 2),
    "dV": ("/=", 2),
    "rM": ("%=", 2),
    "aN": ("&=", 2),
    "oR": ("|=", 2),
    "eO": ("^=", 2),
    "ls": ("<<", 2),
    "rs": (">>", 2),
    "lS": ("<<=", 2),
    "rS": (">>=", 2),
    "eq": ("==", 2),
    "ne": ("!=", 2),
    "lt": ("<", 2),
    "gt": (">", 2),
    "le": ("<=", 2),
    "ge": (">=", 2),
    "ss": ("<=>", 2),
    "nt": ("!", 1),
    "aa": ("&&", 2),
    "oo": ("||", 2),
    "pp": ("++", 1),
    "mm": ("--", 1),
    "cm": (",", 2),
    "pm": ("->*", 2),
    "pt": ("->", 2),
    "dt": (".", 2),
    "cl": ("()", 2),
    "ix": ("[]", 2),
    "qu": ("?", 3),
    "aw": ("co_await", 1),
}

# Std abbreviations, printed in full (c++filt's default, verbose, form).
STD_ABBREVIATIONS = {
    "a": ("std::allocator", "allocator"),
    "b": ("std::basic_string", "basic_string"),
    "s": (
        "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
        "basic_string",
    ),
    "i": ("std::basic_istream<char, std::char_traits<char> >", "basic_istream"),
    "o": ("std::basic_ostream<char, std::char_traits<char> >", "basic_ostream"),
    "d": ("std::basic_iostream<char, std::char_traits<char> >", "basic_iostream"),
}
STD_NODES = {code: StdAbbreviation(text, base) for code, (text, base) in STD_ABBREVIATIONS.items()}
STD = Name("std")

SPECIAL_PREFIXES = {
    "V": "vtable for ",
    "T": "VTT for ",
    "I": "typeinfo for ",
    "S": "typeinfo name for ",
    "H": "TLS init function for ",
    "W": "TLS wrapper function for ",
}

DIGITS = frozenset("0123456789")  # a set: "" (end of input) is not a digit
NUMBER = re.compile(r"[0-9]+")
CV_START = frozenset("rVK")
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class ParseError(Exception):
    """The input is not a mangled name we can read."""


def is_clone_char(c: str) -> bool:
    """Whether ``c`` may appear in a GCC clone suffix (``.isra``, ``.cold``, ``.part``...)."""
    return c.islower() or c in DIGITS or c == "_"


class NameInfo:
    """What the encoding needs to know about the name it just parsed."""

    __slots__ = ("ends_in_template", "is_ctor_dtor_conv", "quals")

    def __init__(self) -> None:
        self.ends_in_template = False
        self.is_ctor_dtor_conv = False
        self.quals = ""
