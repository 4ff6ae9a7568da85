"""Rust's v0 symbol mangling (RFC 2603): ``_R`` followed by a path.

Printed like ``rustc-demangle``: ``{:#}`` (``keep_hash=False``: no crate disambiguators, no
integer-constant type suffixes) or the full form (``keep_hash=True``: ``core[9ad4a9b0c49f0c1b]``,
``3usize``), which is also what ``c++filt`` and ``c++filt -i`` print. Backrefs (``B<n>_``) point
back into the symbol, so they always terminate, but they can nest: a depth limit and an output
limit keep hostile input cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable

BASIC_TYPES = {
    "a": "i8",
    "b": "bool",
    "c": "char",
    "d": "f64",
    "e": "str",
    "f": "f32",
    "h": "u8",
    "i": "isize",
    "j": "usize",
    "l": "i32",
    "m": "u32",
    "n": "i128",
    "o": "u128",
    "s": "i16",
    "t": "u16",
    "u": "()",
    "v": "...",
    "x": "i64",
    "y": "u64",
    "z": "!",
    "p": "_",
}
_SIGNED = frozenset("aslxni")
_UNSIGNED = frozenset("hmtyoj")
MAX_DEPTH = 300
MAX_OUTPUT = 1 << 18  # characters; real symbols print under 20 000
MAX_STEPS = 50_000  # grammar steps (real symbols take under 4 000): no exponential backrefs
_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE62_VALUE = {c: i for i, c in enumerate(_BASE62)}
_BASE62_NUMBER = re.compile(r"([0-9a-zA-Z]*)_")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class ParseError(Exception):
    """Not a v0 symbol we can read."""


class Printer:
    """Parses and prints in one pass, as rustc-demangle does."""

    __slots__ = (
        "bound_lifetimes",
        "depth",
        "n",
        "out",
        "pos",
        "s",
        "size",
        "skip",
        "steps",
        "verbose",
    )

    def __init__(self, s: str, verbose: bool) -> None:
        self.s = s
        self.n = len(s)
        self.pos = 0
        self.out: list[str] = []
        self.size = 0
        self.verbose = verbose
        self.skip = 0  # > 0 while parsing something that is not printed (impl paths)
        self.depth = 0
        self.steps = 0
        self.bound_lifetimes = 0

    # -- output and input ---------------------------------------------------------------------

    def emit(self, text: str) -> None:
        """Append output (nothing while skipping); fail past MAX_OUTPUT."""
        if self.skip:
            return
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise ParseError("output too long")
        self.out.append(text)

    def peek(self) -> str:
        """The next character ('' at the end)."""
        return self.s[self.pos] if self.pos < self.n else ""

    def eat(self, c: str) -> bool:
        """Consume ``c`` if it comes next."""
        if self.pos < self.n and self.s[self.pos] == c:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        """Consume and return one character."""
        if self.pos >= self.n:
            raise ParseError("unexpected end")
        c = self.s[self.pos]
        self.pos += 1
        return c

    def enter(self) -> None:
        """One level deeper; fail past MAX_DEPTH or MAX_STEPS."""
        self.depth += 1
        self.steps += 1
        if self.depth > MAX_DEPTH or self.steps > MAX_STEPS:
            raise ParseError("too deep or too long")

    def leave(self) -> None:
        """One level back up."""
        self.depth -= 1

    def integer_62(self) -> int:
        """``<base-62-number>``: ``_`` is 0, ``<digits>_`` is value + 1."""
        m = _BASE62_NUMBER.match(self.s, self.pos)
        if m is None:
            raise ParseError("bad base-62 number")
        self.pos = m.end()
        digits = m.group(1)
        if not digits:
            return 0
        if len(digits) > 11:  # 62**11 > 2**64
            raise ParseError("number too large")
        value = 0
        for c in digits:
            value = value * 62 + _BASE62_VALUE[c]
        return value + 1

    def opt_integer_62(self, tag: str) -> int:
        """``[<tag> <base-62-number>]``: 0 when absent, else the number + 1."""
        if not self.eat(tag):
            return 0
        return self.integer_62() + 1

    def disambiguator(self) -> int:
        """``[s <base-62-number>]``."""
        return self.opt_integer_62("s")

    def decimal(self) -> int:
        """A ``<decimal-number>`` (no leading zeros)."""
        m = _DECIMAL.match(self.s, self.pos)
        if m is None:
            raise ParseError("expected a decimal number")
        self.pos = m.end()
        return int(m.group())

    def ident(self) -> tuple[str, bool]:
        """An undisambiguated identifier: (text, is_punycode)."""
        punycode = self.eat("u")
        length = self.decimal()
        self.eat("_")
        end = self.pos + length
        if end > self.n:
            raise ParseError("identifier past the end")
        text = self.s[self.pos : end]
        self.pos = end
        if punycode:
            text = _decode_punycode(text)
        return text, punycode

    def backref(self) -> int:
        """``B <base-62-number>``: a position before this one (so backrefs always end)."""
        start = self.pos - 1  # position of the "B"
        target = self.integer_62()
        if target >= start:
            raise ParseError("backref does not point backwards")
        return target

    def with_backref(self, method: Callable[[], None]) -> None:
        """Run ``method`` at the position a backref points to, then come back."""
        target = self.backref()
        if self.skip:
            return  # nothing printed: no need to re-parse
        saved = self.pos
        self.pos = target
        self.enter()
        try:
            method()
        finally:
            self.leave()
            self.pos = saved

    # -- grammar ------------------------------------------------------------------------------

    def path(self, in_value: bool) -> None:
        """``<path>``: crate root, nested path, impl, trait impl or generic arguments."""
        self.enter()
        try:
            self._path(in_value)
        finally:
            self.leave()

    def _path(self, in_value: bool) -> None:
        tag = self.next()
        if tag == "C":
            dis = self.disambiguator()
            name, _ = self.ident()
            self.emit(name)
            if self.verbose:
                self.emit(f"[{dis:x}]")
        elif tag == "N":
            ns = self.next()
            if not ns.isalpha():
                raise ParseError("bad namespace")
            self.path(in_value)
            dis = self.disambiguator()
            name, _ = self.ident()
            if ns.isupper():
                self.emit("::{")
                if ns == "C":
                    self.emit("closure")
                elif ns == "S":
                    self.emit("shim")
                else:
                    self.emit(ns)
                if name:
                    self.emit(":" + name)
                self.emit(f"#{dis}}}")
            elif name:
                self.emit("::" + name)
        elif tag in ("M", "X", "Y"):
            if tag != "Y":
                self.disambiguator()
                self.skip += 1
                try:
                    self.path(False)
                finally:
                    self.skip -= 1
            self.emit("<")
            self.type()
            if tag != "M":
                self.emit(" as ")
                self.path(False)
            self.emit(">")
        elif tag == "I":
            self.path(in_value)
            if in_value:
                self.emit("::")
            self.emit("<")
            self.generic_args()
            self.emit(">")
        elif tag == "B":
            self.with_backref(lambda: self.path(in_value))
        else:
            raise ParseError("bad path")

    def generic_args(self) -> None:
        """``<generic-arg>* E``, comma separated."""
        first = True
        while not self.eat("E"):
            if not first:
                self.emit(", ")
            first = False
            self.generic_arg()

    def generic_arg(self) -> None:
        """A lifetime, a type or ``K <const>``."""
        if self.eat("L"):
            self.lifetime(self.integer_62())
        elif self.eat("K"):
            self.const()
        else:
            self.type()

    def lifetime(self, index: int) -> None:
        """``'_``, ``'a``, ``'b``... counted from the innermost binder."""
        self.emit("'")
        if index == 0:
            self.emit("_")
            return
        depth = self.bound_lifetimes - index
        if depth < 0:
            raise ParseError("lifetime out of range")
        if depth < 26:
            self.emit(chr(ord("a") + depth))
        else:
            self.emit(f"_{depth}")

    def binder(self) -> int:
        """``G<n>`` introduces n+1 lifetimes: print ``for<'a, 'b> `` and return how many."""
        count = self.opt_integer_62("G")
        if count == 0:
            return 0
        self.emit("for<")
        for i in range(count):
            if i:
                self.emit(", ")
            self.bound_lifetimes += 1
            self.lifetime(1)
        self.emit("> ")
        return count

    def type(self) -> None:
        """``<type>``: basic types, references, pointers, arrays, tuples, fn and dyn types."""
        self.enter()
        try:
            self._type()
        finally:
            self.leave()

    def _type(self) -> None:
        c = self.next()
        basic = BASIC_TYPES.get(c)
        if basic is not None:
            self.emit(basic)
            return
        if c == "R" or c == "Q":
            self.emit("&")
            if self.eat("L"):
                lt = self.integer_62()
                if lt:
                    self.lifetime(lt)
                    self.emit(" ")
            if c == "Q":
                self.emit("mut ")
            self.type()
        elif c == "P" or c == "O":
            self.emit("*const " if c == "P" else "*mut ")
            self.type()
        elif c == "A" or c == "S":
            self.emit("[")
            self.type()
            if c == "A":
                self.emit("; ")
                self.const()
            self.emit("]")
        elif c == "T":
            self.emit("(")
            count = 0
            while not self.eat("E"):
                if count:
                    self.emit(", ")
                self.type()
                count += 1
            if count == 1:
                self.emit(",")
            self.emit(")")
        elif c == "F":
            bound = self.bound_lifetimes
            self.binder()
            if self.eat("U"):
                self.emit("unsafe ")
            if self.eat("K"):
                if self.eat("C"):
                    abi = "C"
                else:
                    abi, _ = self.ident()
                    abi = abi.replace("_", "-")
                self.emit(f'extern "{abi}" ')
            self.emit("fn(")
            count = 0
            while not self.eat("E"):
                if count:
                    self.emit(", ")
                self.type()
                count += 1
            self.emit(")")
            if self.eat("u"):
                pass  # returns (): printed as nothing
            else:
                self.emit(" -> ")
                self.type()
            self.bound_lifetimes = bound
        elif c == "D":
            self.emit("dyn ")
            bound = self.bound_lifetimes
            self.binder()
            count = 0
            while not self.eat("E"):
                if count:
                    self.emit(" + ")
                self.dyn_trait()
                count += 1
            self.bound_lifetimes = bound
            if not self.eat("L"):
                raise ParseError("dyn without lifetime")
            lt = self.integer_62()
            if lt:
                self.emit(" + ")
                self.lifetime(lt)
        elif c == "B":
            self.with_backref(self.type)
        else:
            self.pos -= 1
            self.path(False)

    def dyn_trait(self) -> None:
        """A ``dyn`` bound: trait path and associated type bindings."""
        open_generics = self.path_maybe_open_generics()
        while self.eat("p"):
            self.emit(", " if open_generics else "<")
            open_generics = True
            name, _ = self.ident()
            self.emit(name + " = ")
            self.type()
        if open_generics:
            self.emit(">")

    def path_maybe_open_generics(self) -> bool:
        """Print a trait path; leave its generic list open for associated type bindings."""
        if self.eat("B"):
            target = self.backref()
            if self.skip:
                return False
            saved = self.pos
            self.pos = target
            self.enter()
            try:
                return self.path_maybe_open_generics()
            finally:
                self.leave()
                self.pos = saved
        if self.eat("I"):
            self.path(False)
            self.emit("<")
            self.generic_args()
            return True
        self.path(False)
        return False

    def const(self) -> None:
        """``<const>``: integers, bool, char, ``_`` and backrefs."""
        self.enter()
        try:
            self._const()
        finally:
            self.leave()

    def _const(self) -> None:
        c = self.next()
        if c == "B":
            self.with_backref(self.const)
            return
        if c == "p":
            self.emit("_")
            return
        if c in _SIGNED or c in _UNSIGNED:
            negative = c in _SIGNED and self.eat("n")
            value = self.const_hex()
            # rustc-demangle prints values past u64 in hex.
            text = str(value) if value < (1 << 64) else hex(value)
            self.emit(("-" if negative else "") + text)
            if self.verbose:
                self.emit(BASIC_TYPES[c])
            return
        if c == "b":
            value = self.const_hex()
            if value > 1:
                raise ParseError("bad bool")
            self.emit("true" if value else "false")
            return
        if c == "c":
            value = self.const_hex()
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ParseError("bad char")
            self.emit(_char_literal(chr(value)))
            return
        raise ParseError("unsupported const")

    def const_hex(self) -> int:
        """The ``<hex-digits> _`` of a constant."""
        start = self.pos
        while self.pos < self.n and self.s[self.pos] != "_":
            if self.s[self.pos] not in "0123456789abcdef":
                raise ParseError("bad hex")
            self.pos += 1
        if self.pos >= self.n:
            raise ParseError("unterminated const")
        digits = self.s[start : self.pos]
        self.pos += 1
        return int(digits, 16) if digits else 0


def _char_literal(ch: str) -> str:
    # Rust's char::escape_debug, for the characters a const generic is likely to hold.
    escapes = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "'": "\\'", "\\": "\\\\", "\0": "\\0"}
    if ch in escapes:
        return "'" + escapes[ch] + "'"
    if ch.isprintable():
        return "'" + ch + "'"
    return "'\\u{" + format(ord(ch), "x") + "}'"


def _decode_punycode(text: str) -> str:
    # v0 writes the RFC 3492 delimiter "-" as "_" (the last one separates the ASCII part).
    basic, sep, encoded = text.rpartition("_")
    if not sep:
        basic, encoded = "", text
    try:
        return (basic + "-" + encoded).encode("ascii").decode("punycode")
    except (UnicodeError, ValueError) as err:
        raise ParseError("bad punycode") from err


def demangle_rust_v0(symbol: str, keep_hash: bool = False) -> str | None:
    """Demangle a v0 Rust symbol (``_R...``), or None if it cannot be parsed."""
    if not symbol.startswith("_R"):
        return None
    body = symbol[2:]
    if not body or body[0].isdigit():
        return None  # an encoding version we do not know
    # LLVM and GCC suffixes (".llvm.1234", ".cold") are dropped, as c++filt does.
    dot = body.find(".")
    if dot >= 0:
        body = body[:dot]
    if not body.isascii():
        return None
    printer = Printer(body, verbose=keep_hash)
    try:
        printer.path(True)
        # The instantiating crate, if present, is not printed.
        if printer.pos < printer.n:
            printer.skip += 1
            printer.path(False)
            printer.skip -= 1
        if printer.pos != printer.n:
            return None
    except (ParseError, RecursionError, ValueError, IndexError):
        return None
    return "".join(printer.out)
