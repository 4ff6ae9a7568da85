"""The tree an Itanium C++ mangled name parses into, and how each node prints.

Printing follows GNU ``c++filt`` (libiberty's cp-demangle) byte for byte where we could check it:
``char const*``, ``> >``, ``int (*) [3]``, ``void (Foo::*)(int) const``, ``{lambda()#1}``.

Declarator types (pointers to functions, arrays) print inside out, so every node has a left part
and a right part: ``void (*`` + ``)(int)`` around whatever sits in the middle.
"""

from __future__ import annotations

MAX_OUTPUT_PIECES = 200_000


class PrintBudgetExceeded(Exception):
    """Raised when substitutions would expand a small symbol into an enormous name."""


class Printer:
    """Collects output pieces; counts them so hostile input cannot print forever."""

    __slots__ = (
        "budget",
        "current_template",
        "in_lambda",
        "out",
        "pack_index",
        "phantom_space",
        "templates",
    )

    def __init__(self) -> None:
        self.out: list[str] = []
        self.budget = MAX_OUTPUT_PIECES
        self.pack_index: int | None = None
        # GNU removes the ", " before an element that printed nothing but still remembers its
        # space as the last character printed ("Checker<PreStmt<Stmt>>" for an empty pack).
        self.phantom_space = False
        # Template parameters in a lambda's signature print as "auto:1" (generic lambdas).
        self.in_lambda = False
        # The template arguments of the functions being printed, innermost last.
        self.templates: list[list[Node]] = []
        # The arguments of the template whose name is being printed: a conversion operator's
        # type in that name refers to them ("operator int<int>" for cvT_IiE).
        self.current_template: list[Node] | None = None

    def add(self, text: str) -> None:
        """Append a non-empty piece of output."""
        self.budget -= 1
        if self.budget < 0:
            raise PrintBudgetExceeded
        self.phantom_space = False
        self.out.append(text)

    def last(self) -> str:
        """The last character printed so far ('' at the start)."""
        if self.phantom_space:
            return " "
        out = self.out
        return out[-1][-1] if out else ""

    def text(self) -> str:
        """Everything printed."""
        return "".join(self.out)


class Node:
    """A piece of a demangled name."""

    __slots__ = ()

    def left(self, p: Printer) -> None:
        """Print the part before the declarator's middle."""

    def right(self, p: Printer) -> None:
        """Print the part after the declarator's middle."""

    def full(self, p: Printer) -> None:
        """Print the whole node."""
        self.left(p)
        self.right(p)

    def target(self, p: Printer) -> Node:
        """The node this one stands for (template parameters resolve to their argument)."""
        return self

    def declarator(self, p: Printer) -> str:
        """'f' for a function type, 'a' for an array type, '' for anything else."""
        return ""

    def has_right(self, p: Printer) -> bool:
        """Whether the node prints anything on the right of a declarator's middle."""
        return False

    def base_name(self) -> str | None:
        """The last plain identifier (a constructor's class name), if there is one."""
        return None

    def find_pack(self, p: Printer) -> ArgPack | None:
        """The first template argument pack this node refers to (for ``...`` expansions)."""
        return None

    def simple(self) -> bool:
        """Whether an expression operand prints without parentheses."""
        return False


def print_list(p: Printer, items: list[Node]) -> None:
    """Print nodes separated by ', ' the way GNU does.

    An element that prints nothing (an empty pack) still gets its separators ("f<, int>"),
    except at the end, where the trailing separators are removed again.
    """
    keep = len(p.out)
    for i, item in enumerate(items):
        if i:
            p.add(", ")
        before = len(p.out)
        tgt = item.target(p)
        if isinstance(tgt, ArgPack) and p.pack_index is None:
            tgt.left(p)
        else:
            item.full(p)
        if len(p.out) > before:
            keep = len(p.out)
    if len(p.out) > keep:
        del p.out[keep:]
        p.phantom_space = True


class Name(Node):
    """An identifier, builtin type or any fixed text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def left(self, p: Printer) -> None:
        p.add(self.text)

    full = left  # no right part

    def base_name(self) -> str | None:
        return self.text

    def simple(self) -> bool:
        return True


class StdAbbreviation(Name):
    """``Sa``, ``Ss``, ``Si``...: printed in full, with the class name kept for constructors."""

    __slots__ = ("base",)

    def __init__(self, text: str, base: str) -> None:
        super().__init__(text)
        self.base = base

    def base_name(self) -> str | None:
        return self.base


class Unnamed(Name):
    """``{unnamed type#1}``: no identifier for constructors to reuse."""

    __slots__ = ()

    def base_name(self) -> str | None:
        return None


class Nested(Node):
    """``prefix::name``."""

    __slots__ = ("name", "prefix")

    def __init__(self, prefix: Node, name: Node) -> None:
        self.prefix = prefix
        self.name = name

    def left(self, p: Printer) -> None:
        self.prefix.full(p)
        p.add("::")
        self.name.full(p)

    full = left  # no right part

    def base_name(self) -> str | None:
        # Unnamed types and lambdas have no name: GNU uses the last identifier before them.
        return self.name.base_name() or self.prefix.base_name()

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.prefix.find_pack(p) or self.name.find_pack(p)

    def simple(self) -> bool:
        return True


class Template(Node):
    """``name<args>``."""

    __slots__ = ("args", "name")

    def __init__(self, name: Node, args: list[Node]) -> None:
        self.name = name
        self.args = args

    def left(self, p: Printer) -> None:
        saved = p.current_template
        p.current_template = self.args
        self.name.full(p)
        p.current_template = saved
        # GNU avoids "<<" ("operator< <int>") and ">>" ("vector<int> >").
        if p.last() == "<":
            p.add(" ")
        p.add("<")
        print_list(p, self.args)
        if p.last() == ">":
            p.add(" ")
        p.add(">")

    full = left  # no right part

    def base_name(self) -> str | None:
        return self.name.base_name()

    def find_pack(self, p: Printer) -> ArgPack | None:
        for arg in self.args:
            found = arg.find_pack(p)
            if found is not None:
                return found
        return self.name.find_pack(p)


class AbiTagged(Node):
    """``name[abi:cxx11]``."""

    __slots__ = ("name", "tag")

    def __init__(self, name: Node, tag: str) -> None:
        self.name = name
        self.tag = tag

    def left(self, p: Printer) -> None:
        self.name.full(p)
        p.add("[abi:" + self.tag + "]")

    full = left  # no right part

    def base_name(self) -> str | None:
        return self.name.base_name()


class Conversion(Node):
    """``operator <type>``."""

    __slots__ = ("type",)

    def __init__(self, type_: Node) -> None:
        self.type = type_

    def left(self, p: Printer) -> None:
        p.add("operator ")
        if p.current_template is None:
            self.type.full(p)
            return
        p.templates.append(p.current_template)
        self.type.full(p)
        p.templates.pop()

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.type.find_pack(p)


class Lambda(Node):
    """``{lambda(int)#1}``."""

    __slots__ = ("number", "params")

    def __init__(self, params: list[Node], number: int) -> None:
        self.params = params
        self.number = number

    def left(self, p: Printer) -> None:
        p.add("{lambda(")
        saved = p.in_lambda
        p.in_lambda = True
        print_list(p, self.params)
        p.in_lambda = saved
        p.add(")#" + str(self.number) + "}")

    full = left  # no right part


class LocalName(Node):
    """``function()::entity``."""

    __slots__ = ("encoding", "entity")

    def __init__(self, encoding: Node, entity: Node) -> None:
        self.encoding = encoding
        self.entity = entity

    def left(self, p: Printer) -> None:
        self.encoding.full(p)
        p.add("::")
        self.entity.full(p)

    full = left  # no right part

    def base_name(self) -> str | None:
        return self.entity.base_name()


class Prefixed(Node):
    """Fixed text before a node: ``vtable for X``, ``non-virtual thunk to f()``."""

    __slots__ = ("child", "prefix")

    def __init__(self, prefix: str, child: Node) -> None:
        self.prefix = prefix
        self.child = child

    def left(self, p: Printer) -> None:
        p.add(self.prefix)
        self.child.full(p)

    full = left  # no right part


class Suffixed(Node):
    """A node followed by fixed text: ``f() [clone .cold]``."""

    __slots__ = ("child", "suffix")

    def __init__(self, child: Node, suffix: str) -> None:
        self.child = child
        self.suffix = suffix

    def left(self, p: Printer) -> None:
        self.child.full(p)
        p.add(self.suffix)

    full = left  # no right part


class ConstructionVtable(Node):
    """``construction vtable for Base-in-Derived``."""

    __slots__ = ("base", "derived")

    def __init__(self, derived: Node, base: Node) -> None:
        self.derived = derived
        self.base = base

    def left(self, p: Printer) -> None:
        p.add("construction vtable for ")
        self.base.full(p)
        p.add("-in-")
        self.derived.full(p)

    full = left  # no right part


class Qualified(Node):
    """A cv-qualified (or vendor-qualified) type: ``int const``; on functions, after the params."""

    __slots__ = ("inner", "quals")

    def __init__(self, inner: Node, quals: str) -> None:
        self.inner = inner
        self.quals = quals

    def _effective(self, p: Printer) -> tuple[Node, str]:
        # A const array is an array of const elements ("char const (&) [5]"), and qualifying
        # an already const template argument does not repeat "const".
        tgt = self.inner.target(p)
        if isinstance(tgt, Array):
            return Array(Qualified(tgt.element, self.quals), tgt.dimension), ""
        quals = self.quals
        if isinstance(tgt, Qualified) and quals:
            have = tgt.quals.split()
            quals = "".join(" " + q for q in quals.split() if q not in have)
        return self.inner, quals

    def left(self, p: Printer) -> None:
        inner, quals = self._effective(p)
        inner.left(p)
        if quals and not inner.declarator(p):
            p.add(quals)

    def right(self, p: Printer) -> None:
        inner, quals = self._effective(p)
        inner.right(p)
        if quals and inner.declarator(p):
            p.add(quals)

    def declarator(self, p: Printer) -> str:
        return self.inner.declarator(p)

    def has_right(self, p: Printer) -> bool:
        return self.inner.has_right(p)

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.inner.find_pack(p)


class Pointer(Node):
    """``T*``, ``T&``, ``T&&``, ``T _Complex``...; around functions and arrays: ``(*)``."""

    __slots__ = ("inner", "symbol")

    def __init__(self, inner: Node, symbol: str) -> None:
        self.inner = inner
        self.symbol = symbol

    def _collapsed(self, p: Printer) -> tuple[Node, str]:
        # Reference collapsing: T& with T = int&& is int&; T&& with T = int& is int&.
        inner, symbol = self.inner, self.symbol
        if symbol in ("&", "&&"):
            for _ in range(64):
                tgt = inner.target(p)
                if not (isinstance(tgt, Pointer) and tgt.symbol in ("&", "&&")):
                    break
                if tgt.symbol == "&":
                    symbol = "&"
                inner = tgt.inner
        return inner, symbol

    def left(self, p: Printer) -> None:
        inner, symbol = self._collapsed(p)
        inner.left(p)
        kind = inner.declarator(p)
        if kind == "a":
            p.add(" (")
        elif kind == "f":
            p.add("(")
        p.add(symbol)

    def right(self, p: Printer) -> None:
        inner, _ = self._collapsed(p)
        if inner.declarator(p):
            p.add(")")
        inner.right(p)

    def has_right(self, p: Printer) -> bool:
        inner, _ = self._collapsed(p)
        return bool(inner.declarator(p))

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.inner.find_pack(p)


class MemberPointer(Node):
    """``int Foo::*`` and ``void (Foo::*)(int)``."""

    __slots__ = ("cls", "member")

    def __init__(self, cls: Node, member: Node) -> None:
        self.cls = cls
        self.member = member

    def left(self, p: Printer) -> None:
        self.member.left(p)
        kind = self.member.declarator(p)
        if kind == "f":
            p.add("(")
        elif kind == "a":
            p.add(" (")
        else:
            p.add(" ")
        self.cls.full(p)
        p.add("::*")

    def right(self, p: Printer) -> None:
        if self.member.declarator(p):
            p.add(")")
        self.member.right(p)

    def has_right(self, p: Printer) -> bool:
        return bool(self.member.declarator(p))

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.cls.find_pack(p) or self.member.find_pack(p)


class Array(Node):
    """``int [3]``."""

    __slots__ = ("dimension", "element")

    def __init__(self, element: Node, dimension: Node | None) -> None:
        self.element = element
        self.dimension = dimension

    def left(self, p: Printer) -> None:
        self.element.left(p)

    def right(self, p: Printer) -> None:
        if p.last() != "]":
            p.add(" ")
        p.add("[")
        if self.dimension is not None:
            self.dimension.full(p)
        p.add("]")
        self.element.right(p)

    def declarator(self, p: Printer) -> str:
        return "a"

    def has_right(self, p: Printer) -> bool:
        return True

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.element.find_pack(p)


def _space_after_return(p: Printer, ret: Node) -> None:
    # A plain return type is followed by a space; one that wraps the function (a pointer to
    # function returning a pointer to function) only when it does not end in "(" or "*".
    if not ret.has_right(p) or p.last() not in "(*":
        p.add(" ")


class FunctionType(Node):
    """``int (char)``, with optional qualifiers after the parameters."""

    __slots__ = ("params", "quals", "ret")

    def __init__(self, ret: Node, params: list[Node], quals: str = "") -> None:
        self.ret = ret
        self.params = params
        self.quals = quals

    def left(self, p: Printer) -> None:
        self.ret.left(p)
        _space_after_return(p, self.ret)

    def right(self, p: Printer) -> None:
        p.add("(")
        print_list(p, self.params)
        p.add(")")
        if self.quals:
            p.add(self.quals)
        self.ret.right(p)

    def declarator(self, p: Printer) -> str:
        return "f"

    def has_right(self, p: Printer) -> bool:
        return True

    def find_pack(self, p: Printer) -> ArgPack | None:
        for param in self.params:
            found = param.find_pack(p)
            if found is not None:
                return found
        return self.ret.find_pack(p)


class Encoding(Node):
    """A function: ``ret name(params) quals``; ``ret`` only for template functions."""

    __slots__ = ("name", "params", "quals", "ret")

    def __init__(self, ret: Node | None, name: Node, params: list[Node], quals: str) -> None:
        self.ret = ret
        self.name = name
        self.params = params
        self.quals = quals

    def _template_args(self) -> list[Node] | None:
        name = self.name
        if isinstance(name, LocalName):
            name = name.entity
        return name.args if isinstance(name, Template) else None

    def left(self, p: Printer) -> None:
        if self.ret is not None:
            args = self._template_args()
            if args is not None:
                p.templates.append(args)
            self.ret.left(p)
            # "int* f()", "char const (&f())[4]": the name sits right after "(&" or "(*".
            if not self.ret.has_right(p) or p.last() not in "(*&":
                p.add(" ")
            if args is not None:
                p.templates.pop()
        self.name.full(p)

    def right(self, p: Printer) -> None:
        args = self._template_args()
        if args is not None:
            p.templates.append(args)
        p.add("(")
        print_list(p, self.params)
        p.add(")")
        if self.quals:
            p.add(self.quals)
        if self.ret is not None:
            self.ret.right(p)
        if args is not None:
            p.templates.pop()

    def base_name(self) -> str | None:
        return self.name.base_name()


class TemplateParam(Node):
    """``T_``: the template argument of the function being printed (GNU resolves it at print
    time, so a substitution of ``T_`` means the enclosing function's argument)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def _argument(self, p: Printer) -> Node:
        if not p.templates:
            raise IndexError("template parameter outside a template")
        args = p.templates[-1]
        if self.index >= len(args):
            raise IndexError("template parameter out of range")
        return args[self.index]

    def target(self, p: Printer) -> Node:
        if p.in_lambda:
            return self
        arg = self._argument(p)
        if isinstance(arg, ArgPack) and p.pack_index is not None:
            if p.pack_index < len(arg.items):
                return arg.items[p.pack_index].target(p)
        return arg.target(p)

    def left(self, p: Printer) -> None:
        if p.in_lambda:
            p.add("auto:" + str(self.index + 1))
            return
        self.target(p).left(p)

    def right(self, p: Printer) -> None:
        if not p.in_lambda:
            self.target(p).right(p)

    def declarator(self, p: Printer) -> str:
        return "" if p.in_lambda else self.target(p).declarator(p)

    def has_right(self, p: Printer) -> bool:
        return False if p.in_lambda else self.target(p).has_right(p)

    def find_pack(self, p: Printer) -> ArgPack | None:
        if p.in_lambda:
            return None
        arg = self._argument(p)
        return arg if isinstance(arg, ArgPack) else None


class ArgPack(Node):
    """A template argument pack ``J...E``: its elements, comma separated."""

    __slots__ = ("items",)

    def __init__(self, items: list[Node]) -> None:
        self.items = items

    def left(self, p: Printer) -> None:
        saved = p.pack_index
        p.pack_index = None
        print_list(p, self.items)
        p.pack_index = saved

    full = left  # no right part


class PackExpansion(Node):
    """``Dp`` / ``sp``: the pattern once per element of the pack it names."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: Node) -> None:
        self.pattern = pattern

    def left(self, p: Printer) -> None:
        pack = self.pattern.find_pack(p)
        if pack is None:
            subexpression(p, self.pattern)
            p.add("...")
            return
        saved = p.pack_index
        for i in range(len(pack.items)):
            if i:
                p.add(", ")
            p.pack_index = i
            self.pattern.full(p)
        p.pack_index = saved

    full = left  # no right part


class Literal(Node):
    """An expression literal: ``5``, ``5u``, ``true``, ``(char)97``."""

    __slots__ = ("type", "value")

    # Builtin types whose literals GNU prints with a suffix instead of a cast.
    SUFFIXES = {
        "int": "",
        "unsigned int": "u",
        "long": "l",
        "unsigned long": "ul",
        "long long": "ll",
        "unsigned long long": "ull",
    }

    def __init__(self, type_: Node, value: str) -> None:
        self.type = type_
        self.value = value

    def left(self, p: Printer) -> None:
        value = self.value
        if not value:
            self.type.full(p)
            return
        negative = value.startswith("n")
        if negative:
            value = value[1:]
        type_name = self.type.text if isinstance(self.type, Name) else None
        if type_name in self.SUFFIXES:
            p.add(("-" if negative else "") + value + self.SUFFIXES[type_name])
            return
        if type_name == "bool" and value in ("0", "1") and not negative:
            p.add("true" if value == "1" else "false")
            return
        p.add("(")
        self.type.full(p)
        p.add(")")
        if type_name in ("float", "double", "long double", "__float128"):
            p.add("[" + value + "]")
            return
        p.add(("-" if negative else "") + value)

    full = left  # no right part


class FunctionParam(Node):
    """``fp_``: the n-th parameter of the function, ``{parm#1}``."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number

    def left(self, p: Printer) -> None:
        p.add("{parm#" + str(self.number) + "}")

    full = left  # no right part

    def simple(self) -> bool:
        return True


def subexpression(p: Printer, node: Node) -> None:
    """Print an operand, in parentheses unless it is a plain name."""
    if node.simple():
        node.full(p)
    else:
        p.add("(")
        node.full(p)
        p.add(")")


class Binary(Node):
    """``a+b``, ``a.b``, ``a[b]``; GNU wraps ``>`` in parentheses."""

    __slots__ = ("lhs", "op", "rhs")

    def __init__(self, op: str, lhs: Node, rhs: Node) -> None:
        self.op = op
        self.lhs = lhs
        self.rhs = rhs

    def left(self, p: Printer) -> None:
        if self.op == ">":
            p.add("(")
        subexpression(p, self.lhs)
        if self.op == "[]":
            p.add("[")
            self.rhs.full(p)
            p.add("]")
        else:
            p.add(self.op)
            subexpression(p, self.rhs)
        if self.op == ">":
            p.add(")")

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.lhs.find_pack(p) or self.rhs.find_pack(p)


class Unary(Node):
    """``-a``, ``sizeof a``, ``(int)a``: text then an operand."""

    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: Node) -> None:
        self.op = op
        self.operand = operand

    def left(self, p: Printer) -> None:
        p.add(self.op)
        operand = self.operand
        # GNU prints the address of a member function without its parameter list.
        if (
            self.op == "&"
            and isinstance(operand, Encoding)
            and isinstance(operand.name, Nested)
            and not operand.quals
        ):
            operand.name.full(p)
            return
        subexpression(p, operand)

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.operand.find_pack(p)


class Wrapped(Node):
    """Fixed text, a node, fixed text: ``decltype (x)``, ``sizeof (int)``, ``(int)``."""

    __slots__ = ("after", "before", "inner")

    def __init__(self, before: str, inner: Node, after: str) -> None:
        self.before = before
        self.inner = inner
        self.after = after

    def left(self, p: Printer) -> None:
        p.add(self.before)
        self.inner.full(p)
        p.add(self.after)

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.inner.find_pack(p)


class Call(Node):
    """``f(a, b)``."""

    __slots__ = ("args", "callee")

    def __init__(self, callee: Node, args: list[Node]) -> None:
        self.callee = callee
        self.args = args

    def left(self, p: Printer) -> None:
        subexpression(p, self.callee)
        p.add("(")
        print_list(p, self.args)
        p.add(")")

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        for arg in self.args:
            found = arg.find_pack(p)
            if found is not None:
                return found
        return self.callee.find_pack(p)


class SizeofPack(Node):
    """``sizeof...(T)``: GNU prints the pack's length when it is known."""

    __slots__ = ("param",)

    def __init__(self, param: Node) -> None:
        self.param = param

    def left(self, p: Printer) -> None:
        pack = self.param.find_pack(p)
        if pack is not None:
            p.add(str(len(pack.items)))
        else:
            p.add("sizeof...(")
            self.param.full(p)
            p.add(")")

    full = left  # no right part


class Cast(Node):
    """``(int){parm#1}``."""

    __slots__ = ("operand", "type")

    def __init__(self, type_: Node, operand: Node) -> None:
        self.type = type_
        self.operand = operand

    def left(self, p: Printer) -> None:
        p.add("(")
        self.type.full(p)
        p.add(")")
        subexpression(p, self.operand)

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        return self.operand.find_pack(p)


class NewExpression(Node):
    """``::new ((void*)(p)) T(args)``."""

    __slots__ = ("init", "keyword", "placement", "type")

    def __init__(
        self, keyword: str, placement: list[Node], type_: Node, init: list[Node] | None
    ) -> None:
        self.keyword = keyword
        self.placement = placement
        self.type = type_
        self.init = init

    def left(self, p: Printer) -> None:
        p.add(self.keyword)
        if self.placement:
            p.add("(")
            print_list(p, self.placement)
            p.add(") ")
        self.type.full(p)
        if self.init is not None:
            p.add("(")
            print_list(p, self.init)
            p.add(")")

    full = left  # no right part

    def find_pack(self, p: Printer) -> ArgPack | None:
        for node in [*self.placement, *(self.init or [])]:
            found = node.find_pack(p)
            if found is not None:
                return found
        return self.type.find_pack(p)
