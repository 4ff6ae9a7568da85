"""Itanium C++ ABI demangling (``_Z...``), printed the way GNU ``c++filt`` prints it.

The grammar is the one in the Itanium C++ ABI, "External Names (a.k.a. Mangling)". The parser
(names and types here, expressions in :mod:`.itanium_expressions`, fixed tables in
:mod:`.itanium_grammar`) builds a tree of :mod:`.itanium_nodes` and keeps the substitution table
(``S_``, ``S0_``...). Template parameters (``T_``) are resolved when the tree is printed, against
the function being printed, as GNU does. A recursion limit and an output budget keep hostile
input from hanging or exhausting the stack; any parse failure leaves the symbol unchanged.
"""

from __future__ import annotations

from .itanium_expressions import ExpressionGrammar
from .itanium_grammar import (
    BASE36,
    BUILTIN_D_TYPES,
    BUILTIN_NODES,
    CV_START,
    DIGITS,
    NUMBER,
    OPERATORS,
    SPECIAL_PREFIXES,
    STD,
    STD_NODES,
    NameInfo,
    ParseError,
    is_clone_char,
)
from .itanium_nodes import (
    AbiTagged,
    ArgPack,
    Array,
    ConstructionVtable,
    Conversion,
    Encoding,
    FunctionType,
    Lambda,
    LocalName,
    MemberPointer,
    Name,
    Nested,
    Node,
    PackExpansion,
    Pointer,
    Prefixed,
    PrintBudgetExceeded,
    Printer,
    Qualified,
    Suffixed,
    Template,
    TemplateParam,
    Unnamed,
    Wrapped,
)

MAX_DEPTH = 150  # nesting levels; Python frames used per level stay well under the stack limit


class Parser(ExpressionGrammar):
    """Recursive-descent parser over one mangled name."""

    __slots__ = ("depth", "in_conversion", "n", "new_sr", "pos", "s", "subs")

    def __init__(self, s: str, new_sr: bool = True) -> None:
        self.s = s
        self.new_sr = new_sr
        # In "cv T_ I...E" the template arguments belong to the conversion operator, not to T_.
        self.in_conversion = False
        self.n = len(s)
        self.pos = 0
        self.subs: list[Node] = []
        self.depth = 0

    # -- low-level helpers -------------------------------------------------------------------

    def peek(self, offset: int = 0) -> str:
        """The character ``offset`` ahead ('' at the end)."""
        i = self.pos + offset
        return self.s[i : i + 1]

    def eat(self, text: str) -> bool:
        """Consume ``text`` if it comes next."""
        if self.s.startswith(text, self.pos):
            self.pos += len(text)
            return True
        return False

    def expect(self, text: str) -> None:
        """Consume ``text`` or fail."""
        if not self.eat(text):
            raise ParseError(f"expected {text!r} at {self.pos}")

    def number(self) -> int:
        """A ``<number>``: decimal digits."""
        m = NUMBER.match(self.s, self.pos)
        if m is None:
            raise ParseError("expected a number")
        self.pos = m.end()
        return int(m.group())

    def seq_id(self) -> int:
        """``_`` = 0, ``<base 36>_`` = value + 1."""
        if self.eat("_"):
            return 0
        value = 0
        start = self.pos
        while self.pos < self.n and self.s[self.pos] in BASE36:
            value = value * 36 + BASE36.index(self.s[self.pos])
            self.pos += 1
        if start == self.pos:
            raise ParseError("bad seq-id")
        self.expect("_")
        return value + 1

    def enter(self) -> None:
        """One level deeper; fail past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nesting too deep")

    # -- top level ---------------------------------------------------------------------------

    def mangled_name(self) -> Node:
        """``_Z <encoding> [clone suffixes]``."""
        self.expect("_Z")
        node = self.encoding()
        s = self.s
        while self.pos + 1 < self.n and s[self.pos] == "." and is_clone_char(s[self.pos + 1]):
            start = self.pos
            self.pos += 2
            while self.pos < self.n and is_clone_char(s[self.pos]):
                self.pos += 1
            while self.pos + 1 < self.n and s[self.pos] == "." and s[self.pos + 1] in DIGITS:
                self.pos += 2
                while self.pos < self.n and s[self.pos] in DIGITS:
                    self.pos += 1
            node = Suffixed(node, " [clone " + s[start : self.pos] + "]")
        if self.pos != self.n:
            raise ParseError("trailing characters")
        return node

    def encoding(self) -> Node:
        """``<encoding>``: a function (name and parameter types), a data name or a special name."""
        c = self.peek()
        if c in ("T", "G"):
            return self.special_name()
        info = NameInfo()
        name = self.name(info)
        c = self.peek()
        if c in ("", "E", "."):
            return name
        ret = None
        if info.ends_in_template and not info.is_ctor_dtor_conv:
            ret = self.type()
        params = self.bare_function_params()
        return Encoding(ret, name, params, info.quals)

    def bare_function_params(self) -> list[Node]:
        """The parameter types up to the end (``v`` alone means none)."""
        params = []
        while self.pos < self.n and self.s[self.pos] not in "E.":
            params.append(self.type())
        if not params:
            raise ParseError("function without parameter types")
        if len(params) == 1 and isinstance(params[0], Name) and params[0].text == "void":
            return []
        return params

    def special_name(self) -> Node:
        """``T...`` / ``G...``: vtables, typeinfo, thunks, guard variables..."""
        if self.eat("T"):
            c = self.peek()
            if c in SPECIAL_PREFIXES:
                self.pos += 1
                target = self.type() if c in "VTIS" else self.name(NameInfo())
                return Prefixed(SPECIAL_PREFIXES[c], target)
            if self.eat("h"):
                self.call_offset("h")
                return Prefixed("non-virtual thunk to ", self.encoding())
            if self.eat("v"):
                self.call_offset("v")
                return Prefixed("virtual thunk to ", self.encoding())
            if self.eat("c"):
                self.call_offset(self.take())
                self.call_offset(self.take())
                return Prefixed("covariant return thunk to ", self.encoding())
            if self.eat("C"):
                derived = self.type()
                self.number()
                self.expect("_")
                base = self.type()
                return ConstructionVtable(derived, base)
            if self.eat("A"):
                return Prefixed("template parameter object for ", self.template_arg())
            raise ParseError("unknown special name")
        self.expect("G")
        if self.eat("V"):
            return Prefixed("guard variable for ", self.name(NameInfo()))
        if self.eat("R"):
            name = self.name(NameInfo())
            number = self.number() if self.peek() in DIGITS else 0
            return Prefixed(f"reference temporary #{number} for ", name)
        if self.eat("A"):
            return Prefixed("hidden alias for ", self.encoding())
        if self.eat("Tt"):
            return Prefixed("transaction clone for ", self.encoding())
        if self.eat("Tn"):
            return Prefixed("non-transaction clone for ", self.encoding())
        raise ParseError("unknown special name")

    def take(self) -> str:
        """Consume and return one character."""
        c = self.peek()
        if not c:
            raise ParseError("unexpected end")
        self.pos += 1
        return c

    def call_offset(self, kind: str) -> None:
        """Skip a thunk's ``h``/``v`` call offset (not printed)."""
        if kind == "h":
            self.eat("n")
            self.number()
            self.expect("_")
        elif kind == "v":
            self.eat("n")
            self.number()
            self.expect("_")
            self.eat("n")
            self.number()
            self.expect("_")
        else:
            raise ParseError("bad call offset")

    # -- names -------------------------------------------------------------------------------

    def name(self, info: NameInfo) -> Node:
        """``<name>``: nested, local, unscoped or unscoped-template name."""
        self.enter()
        node = self._name(info)
        self.depth -= 1
        return node

    def _name(self, info: NameInfo) -> Node:
        c = self.s[self.pos : self.pos + 1]
        if c == "N":
            return self.nested_name(info)
        if c == "Z":
            return self.local_name(info)
        if c == "S" and self.peek(1) != "t":
            node = self.substitution()
            if self.peek() != "I":
                raise ParseError("substitution used as a name")
            args = self.template_args()
            info.ends_in_template = True
            return Template(node, args)
        if self.eat("St"):
            node: Node = Nested(STD, self.unqualified_name(info, STD))
        else:
            node = self.unqualified_name(info, None)
        if self.peek() == "I":
            self.subs.append(node)
            node = Template(node, self.template_args())
            info.ends_in_template = True
        return node

    def nested_name(self, info: NameInfo) -> Node:
        """``N [CV] [ref] <prefix> <unqualified-name> E``."""
        self.expect("N")
        quals = self.cv_qualifiers()
        if self.eat("R"):
            quals += " &"
        elif self.eat("O"):
            quals += " &&"
        info.quals = quals
        node: Node | None = None
        while True:
            c = self.peek()
            if c == "E":
                self.pos += 1
                break
            if not c:
                raise ParseError("unterminated nested name")
            if c != "I":
                info.ends_in_template = False
                info.is_ctor_dtor_conv = False
            add = True
            if c == "S" and self.peek(1) == "t":
                self.pos += 2
                if node is not None:
                    raise ParseError("std in the middle of a name")
                node = STD
                continue
            if c == "S":
                if node is not None:
                    raise ParseError("substitution in the middle of a name")
                node = self.substitution()
                add = False
            elif c == "I":
                if node is None:
                    raise ParseError("template arguments without a name")
                node = Template(node, self.template_args())
                info.ends_in_template = True
            elif c == "T":
                if node is not None:
                    raise ParseError("template parameter in the middle of a name")
                node = self.template_param()
            elif c == "D" and self.peek(1) in "tT":
                if node is not None:
                    raise ParseError("decltype in the middle of a name")
                node = self.decltype()
            elif c == "M":
                # <data-member-prefix>: the closure of a lambda in a member initializer.
                self.pos += 1
                continue
            else:
                component = self.unqualified_name(info, node)
                node = component if node is None else Nested(node, component)
            if add and self.peek() != "E":
                self.subs.append(node)
        if node is None:
            raise ParseError("empty nested name")
        return node

    def local_name(self, info: NameInfo) -> Node:
        """``Z <encoding> E <entity> [discriminator]``: ``f()::x``."""
        self.expect("Z")
        encoding = self.encoding()
        self.expect("E")
        if isinstance(encoding, Encoding):
            # GNU never prints the enclosing function's return type in a local name.
            encoding.ret = None
        if self.eat("s"):
            self.discriminator()
            return LocalName(encoding, Name("string literal"))
        if self.eat("d"):
            number = self.number() + 2 if self.peek() != "_" else 1
            self.expect("_")
            entity = self.name(info)
            default_arg = Name("{default arg#" + str(number) + "}")
            return LocalName(LocalName(encoding, default_arg), entity)
        entity = self.name(info)
        self.discriminator()
        return LocalName(encoding, entity)

    def discriminator(self) -> None:
        """Skip ``_ <digit>`` / ``__ <number> _`` (not printed)."""
        if not self.eat("_"):
            return
        if self.eat("_"):
            self.number()
            self.expect("_")
            return
        while self.peek() in DIGITS:
            self.pos += 1

    def unqualified_name(self, info: NameInfo, prefix: Node | None) -> Node:
        """A source name, operator, constructor/destructor or unnamed type, with ABI tags."""
        c = self.peek()
        if c == "L":
            # GCC's internal-linkage marker: not printed.
            self.pos += 1
            c = self.peek()
        if c in DIGITS:
            node = self.source_name()
        elif c == "C" or (c == "D" and self.peek(1) in "0123456789"):
            node = self.ctor_dtor(prefix)
            info.is_ctor_dtor_conv = True
        elif c == "U":
            node = self.unnamed_type()
        elif c and c.islower():
            node = self.operator_name(info)
        else:
            raise ParseError("bad unqualified name")
        while self.peek() == "B":
            self.pos += 1
            node = AbiTagged(node, self.source_text())
        return node

    def source_text(self) -> str:
        """``<length><identifier>``: the identifier."""
        length = self.number()
        end = self.pos + length
        if length == 0 or end > self.n:
            raise ParseError("bad identifier length")
        text = self.s[self.pos : end]
        self.pos = end
        return text

    def source_name(self) -> Node:
        """A source name as a node (``_GLOBAL__N`` is the anonymous namespace)."""
        text = self.source_text()
        if text.startswith("_GLOBAL_") and len(text) > 9 and text[8] in "._$" and text[9] == "N":
            return Name("(anonymous namespace)")
        return Name(text)

    def ctor_dtor(self, prefix: Node | None) -> Node:
        """``C1``/``C2``/``CI1 <type>``/``D0``...: named after the class."""
        base = prefix.base_name() if prefix is not None else None
        if base is None:
            raise ParseError("constructor without a class name")
        if self.eat("C"):
            if self.eat("I"):
                # An inheriting constructor is named after the class it inherits from.
                self.take()
                inherited = self.type().base_name()
                return Name(inherited or base)
            self.take()
            return Name(base)
        self.expect("D")
        self.take()
        return Name("~" + base)

    def unnamed_type(self) -> Node:
        """``Ut_`` (``{unnamed type#1}``) and ``Ul <params> E _`` (``{lambda(int)#1}``)."""
        self.expect("U")
        if self.eat("t"):
            number = self.optional_number_then_underscore()
            return Unnamed("{unnamed type#" + str(number) + "}")
        if self.eat("l"):
            params = self.bare_function_params_until_e()
            self.expect("E")
            number = self.optional_number_then_underscore()
            return Lambda(params, number)
        raise ParseError("unknown unnamed type")

    def bare_function_params_until_e(self) -> list[Node]:
        """A lambda's parameter types, up to ``E``."""
        params = []
        while self.peek() not in ("E", ""):
            params.append(self.type())
        if len(params) == 1 and isinstance(params[0], Name) and params[0].text == "void":
            return []
        return params

    def optional_number_then_underscore(self) -> int:
        """``_`` is #1, ``<n>_`` is #n+2."""
        if self.eat("_"):
            return 1
        number = self.number()
        self.expect("_")
        return number + 2

    def operator_name(self, info: NameInfo) -> Node:
        """``<operator-name>``: ``operator+``, ``operator new``, conversions, literals."""
        code = self.s[self.pos : self.pos + 2]
        if code == "cv":
            self.pos += 2
            info.is_ctor_dtor_conv = True
            saved = self.in_conversion
            self.in_conversion = True
            try:
                return Conversion(self.type())
            finally:
                self.in_conversion = saved
        if code == "li":
            self.pos += 2
            return Name('operator"" ' + self.source_text())
        if len(code) == 2 and code[0] == "v" and code[1] in DIGITS:
            self.pos += 2
            return Name("operator " + self.source_text())
        entry = OPERATORS.get(code)
        if entry is None or code in ("dt", "qu"):
            raise ParseError("unknown operator")
        self.pos += 2
        text = entry[0]
        sep = " " if text[0].isalpha() else ""
        return Name("operator" + sep + text)

    # -- substitutions and template parameters ------------------------------------------------

    def substitution(self) -> Node:
        """``S_``, ``S<seq-id>_`` and the std abbreviations ``St``, ``Sa``, ``Ss``..."""
        self.expect("S")
        c = self.peek()
        if c in STD_NODES:
            self.pos += 1
            return STD_NODES[c]
        index = self.seq_id()
        if index >= len(self.subs):
            raise ParseError("substitution out of range")
        return self.subs[index]

    def template_param(self) -> Node:
        """``T_``, ``T<n>_``."""
        self.expect("T")
        return TemplateParam(self.seq_id())

    def template_args(self) -> list[Node]:
        """``I <template-arg>+ E``."""
        self.expect("I")
        saved = self.in_conversion
        self.in_conversion = False
        args = []
        s = self.s
        while True:
            c = s[self.pos : self.pos + 1]
            if c == "E":
                self.pos += 1
                break
            if not c:
                raise ParseError("unterminated template arguments")
            args.append(self.template_arg())
        self.in_conversion = saved
        return args

    def template_arg(self) -> Node:
        """A type, ``X <expression> E``, ``L <literal> E`` or ``J <pack> E``."""
        self.enter()
        node = self._template_arg()
        self.depth -= 1
        return node

    def _template_arg(self) -> Node:
        c = self.s[self.pos : self.pos + 1]
        if c == "X":
            self.pos += 1
            node = self.expression()
            self.expect("E")
            return node
        if c == "L":
            return self.expr_primary()
        if c == "J":
            self.pos += 1
            items = []
            while not self.eat("E"):
                if self.pos >= self.n:
                    raise ParseError("unterminated argument pack")
                items.append(self.template_arg())
            return ArgPack(items)
        return self.type()

    # -- types -------------------------------------------------------------------------------

    def cv_qualifiers(self) -> str:
        """``[r] [V] [K]`` as printed after a type."""
        if self.s[self.pos : self.pos + 1] not in CV_START:
            return ""  # the common case, without three look-ups
        restrict = self.eat("r")
        volatile = self.eat("V")
        const = self.eat("K")
        return (
            (" const" if const else "")
            + (" volatile" if volatile else "")
            + (" restrict" if restrict else "")
        )

    def type(self) -> Node:
        """``<type>`` (every non-builtin type becomes a substitution candidate)."""
        c = self.s[self.pos : self.pos + 1]
        builtin = BUILTIN_NODES.get(c)
        if builtin is not None:
            self.pos += 1
            return builtin
        self.enter()
        node = self._type(c)
        self.depth -= 1
        return node

    def _type(self, c: str) -> Node:
        if c in ("r", "V", "K"):
            quals = self.cv_qualifiers()
            # Qualifiers before a function type belong to "this": the unqualified function
            # type is not a substitution candidate (as in GNU's demangler).
            inner = self.function_type("") if self.peek() == "F" else self.type()
            node: Node = Qualified(inner, quals)
        elif c == "P":
            self.pos += 1
            node = Pointer(self.type(), "*")
        elif c == "R":
            self.pos += 1
            node = Pointer(self.type(), "&")
        elif c == "O":
            self.pos += 1
            node = Pointer(self.type(), "&&")
        elif c == "C":
            self.pos += 1
            node = Qualified(self.type(), " _Complex")
        elif c == "G":
            self.pos += 1
            node = Qualified(self.type(), " _Imaginary")
        elif c == "F":
            node = self.function_type("")
        elif c == "A":
            node = self.array_type()
        elif c == "M":
            self.pos += 1
            cls = self.type()
            node = MemberPointer(cls, self.type())
        elif c == "T":
            if self.peek(1) in ("s", "u", "e"):
                self.pos += 2
                node = self.class_type()
            else:
                node = self.template_param()
                if self.peek() == "I" and not self.in_conversion:
                    self.subs.append(node)
                    node = Template(node, self.template_args())
        elif c == "S":
            if self.peek(1) == "t":
                node = self.class_type()
            else:
                node = self.substitution()
                if self.peek() != "I":
                    return node
                node = Template(node, self.template_args())
        elif c == "D":
            node, builtin_d = self.d_type()
            if builtin_d:
                return node
        elif c == "u":
            self.pos += 1
            node = Name(self.source_text())
        elif c == "U":
            self.pos += 1
            qual = self.source_text()
            if self.peek() == "I":
                self.template_args()
            node = Qualified(self.type(), " " + qual)
        elif c in DIGITS or c in ("N", "Z"):
            node = self.class_type()
        else:
            raise ParseError("bad type")
        self.subs.append(node)
        return node

    def d_type(self) -> tuple[Node, bool]:
        """Types starting with ``D``, and whether the type is a builtin (not substitutable)."""
        c = self.peek(1)
        text = BUILTIN_D_TYPES.get(c)
        if text is not None:
            self.pos += 2
            return Name(text), True
        if c == "F":
            self.pos += 2
            bits = self.number()
            if self.eat("x"):
                return Name(f"_Float{bits}x"), True
            self.expect("_")
            return Name(f"_Float{bits}"), True
        if c == "p":
            self.pos += 2
            return PackExpansion(self.type()), False
        if c in ("t", "T"):
            return self.decltype(), False
        if c == "v":
            self.pos += 2
            if self.peek() in DIGITS:
                size: Node = Name(str(self.number()))
            else:
                self.expect("_")
                size = self.expression()
            self.expect("_")
            element = self.type()
            return Wrapped("", element, " __vector(" + _plain_text(size) + ")"), False
        if c in ("o", "O", "w", "x"):
            # Exception specifications in front of a function type.
            self.pos += 2
            if c == "O":
                self.expression()
                self.expect("E")
            elif c == "w":
                while not self.eat("E"):
                    if self.pos >= self.n:
                        raise ParseError("unterminated throw specification")
                    self.type()
            suffix = " noexcept" if c in ("o", "O") else ""
            if self.peek() != "F":
                raise ParseError("exception specification without a function")
            return self.function_type(suffix), False
        raise ParseError("unknown D type")

    def class_type(self) -> Node:
        """A class or enum type: a name."""
        return self.name(NameInfo())

    def function_type(self, exception_suffix: str) -> Node:
        """``F [Y] <return> <params> [ref] E``."""
        self.expect("F")
        self.eat("Y")
        ret = self.type()
        params = []
        ref = ""
        while True:
            c = self.peek()
            if c == "E":
                self.pos += 1
                break
            if not c:
                raise ParseError("unterminated function type")
            if c in ("R", "O") and self.peek(1) == "E":
                ref = " &" if c == "R" else " &&"
                self.pos += 1
                continue
            params.append(self.type())
        if len(params) == 1 and isinstance(params[0], Name) and params[0].text == "void":
            params = []
        return FunctionType(ret, params, ref + exception_suffix)

    def array_type(self) -> Node:
        """``A <dimension> _ <element>``."""
        self.expect("A")
        dimension: Node | None = None
        if self.peek() in DIGITS:
            dimension = Name(str(self.number()))
        elif self.peek() != "_":
            dimension = self.expression()
        self.expect("_")
        return Array(self.type(), dimension)


def _plain_text(node: Node) -> str:
    p = Printer()
    node.full(p)
    return p.text()


def demangle_itanium(symbol: str) -> str | None:
    """Demangle an Itanium C++ symbol (``_Z...``), or None when it cannot be parsed."""
    try:
        if symbol.startswith("_GLOBAL_"):
            return _global_ctor_dtor(symbol)
        return _parse_and_print(symbol, new_sr=True)
    except _FAILURES:
        if "sr" not in symbol:
            return None
    try:
        return _parse_and_print(symbol, new_sr=False)
    except _FAILURES:
        return None


_FAILURES = (ParseError, IndexError, ValueError, KeyError, RecursionError, PrintBudgetExceeded)


def _parse_and_print(symbol: str, new_sr: bool) -> str:
    node = Parser(symbol, new_sr).mangled_name()
    printer = Printer()
    node.full(printer)
    return printer.text()


def _global_ctor_dtor(symbol: str) -> str | None:
    # "_GLOBAL__I_<name>": GNU's "global constructors keyed to <name>".
    if len(symbol) < 11 or symbol[8] not in "._$" or symbol[9] not in "ID" or symbol[10] != "_":
        return None
    rest = symbol[11:]
    kind = "constructors" if symbol[9] == "I" else "destructors"
    inner = demangle_itanium(rest) if rest.startswith("_Z") else None
    return f"global {kind} keyed to " + (inner if inner is not None else rest)
