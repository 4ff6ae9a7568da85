"""Expressions in Itanium C++ symbols: template arguments (``X...E``), ``decltype`` return
types, literals and dependent names, as :class:`ExpressionGrammar`, a part of the parser."""

from __future__ import annotations

from .itanium_grammar import DIGITS, OPERATORS, NameInfo, ParseError
from .itanium_nodes import (
    Binary,
    Call,
    Cast,
    FunctionParam,
    Literal,
    Name,
    Nested,
    NewExpression,
    Node,
    PackExpansion,
    SizeofPack,
    Template,
    Unary,
    Wrapped,
)


class ExpressionGrammar:
    """The expression productions of :class:`.itanium.Parser` (which supplies types, names,
    template arguments and the input cursor)."""

    __slots__ = ()

    def decltype(self) -> Node:
        """``Dt``/``DT <expression> E``."""
        self.expect("D")
        self.take()
        expr = self.expression()
        self.expect("E")
        return Wrapped("decltype (", expr, ")")

    def expr_primary(self) -> Node:
        """``L <type> <value> E`` or ``L _Z <encoding> E``."""
        self.expect("L")
        if self.eat("_Z") or self.eat("Z"):
            enc = self.encoding()
            self.expect("E")
            return enc
        type_ = self.type()
        start = self.pos
        while self.pos < self.n and self.s[self.pos] != "E":
            self.pos += 1
        value = self.s[start : self.pos]
        self.expect("E")
        return Literal(type_, value)

    def expression(self) -> Node:
        """``<expression>`` (the forms compilers put in symbols)."""
        self.enter()
        node = self._expression()
        self.depth -= 1
        return node

    def _expression(self) -> Node:
        c = self.peek()
        if c == "L":
            return self.expr_primary()
        if c == "T":
            return self.template_param()
        if c == "f" and self.peek(1) == "p":
            self.pos += 2
            self.cv_qualifiers()
            if self.eat("_"):
                return FunctionParam(1)
            number = self.number()
            self.expect("_")
            return FunctionParam(number + 2)
        if c == "f" and self.peek(1) == "L":
            self.pos += 2
            self.number()
            self.expect("p")
            self.cv_qualifiers()
            if self.eat("_"):
                return FunctionParam(1)
            number = self.number()
            self.expect("_")
            return FunctionParam(number + 2)
        code = self.s[self.pos : self.pos + 2]
        if code == "sZ":
            self.pos += 2
            return SizeofPack(self.template_param() if self.peek() == "T" else self.expression())
        if code == "sp":
            self.pos += 2
            return PackExpansion(self.expression())
        if code == "st":
            self.pos += 2
            return Wrapped("sizeof (", self.type(), ")")
        if code == "at":
            self.pos += 2
            return Wrapped("alignof (", self.type(), ")")
        if code == "sz":
            self.pos += 2
            return Unary("sizeof ", self.expression())
        if code == "az":
            self.pos += 2
            return Unary("alignof ", self.expression())
        if code == "nx":
            self.pos += 2
            return Wrapped("noexcept (", self.expression(), ")")
        if code == "tw":
            self.pos += 2
            return Unary("throw ", self.expression())
        if code == "tr":
            self.pos += 2
            return Name("throw")
        if code == "cl":
            self.pos += 2
            callee = self.expression()
            args = []
            while not self.eat("E"):
                if self.pos >= self.n:
                    raise ParseError("unterminated call")
                args.append(self.expression())
            return Call(callee, args)
        if code == "cv":
            self.pos += 2
            type_ = self.type()
            if self.eat("_"):
                args = []
                while not self.eat("E"):
                    if self.pos >= self.n:
                        raise ParseError("unterminated cast")
                    args.append(self.expression())
                return Call(Wrapped("(", type_, ")"), args)
            return Cast(type_, self.expression())
        if code in ("sc", "dc", "cc", "rc"):
            self.pos += 2
            kind = {"sc": "static", "dc": "dynamic", "cc": "const", "rc": "reinterpret"}[code]
            type_ = self.type()
            operand = self.expression()
            return Call(Wrapped(kind + "_cast<", type_, ">"), [operand])
        if code in ("dt", "pt"):
            self.pos += 2
            lhs = self.expression()
            member = self.unresolved_name()
            return Binary("." if code == "dt" else "->", lhs, member)
        if code == "gs" and self.s[self.pos + 2 : self.pos + 4] in ("nw", "na"):
            self.pos += 2
            return self.new_expression("::")
        if code in ("nw", "na"):
            return self.new_expression("")
        if code == "sr" or code == "gs" or c in DIGITS or code in ("on", "dn"):
            return self.unresolved_name()
        entry = OPERATORS.get(code)
        if entry is None:
            raise ParseError("unknown expression")
        self.pos += 2
        text, arity = entry
        if arity == 1:
            if code in ("pp", "mm") and self.eat("_"):
                return Unary(text, self.expression())
            return Unary(text, self.expression())
        if arity == 2:
            lhs = self.expression()
            rhs = self.expression()
            return Binary(text, lhs, rhs)
        if code == "qu":
            cond = self.expression()
            yes = self.expression()
            no = self.expression()
            return Binary(":", Binary("?", cond, yes), no)
        raise ParseError("unsupported expression")

    def new_expression(self, scope: str) -> Node:
        """``nw <placement>* _ <type> (E | pi <init>* E)``: ``::new (p) T(args)``."""
        array = self.s[self.pos + 1] == "a"
        self.pos += 2
        placement = []
        while not self.eat("_"):
            if self.pos >= self.n:
                raise ParseError("unterminated new expression")
            placement.append(self.expression())
        type_ = self.type()
        init: list[Node] | None = None
        if self.eat("pi"):
            init = []
            while not self.eat("E"):
                if self.pos >= self.n:
                    raise ParseError("unterminated new initializer")
                init.append(self.expression())
        else:
            self.expect("E")  # only a new without initializer has its own terminator
        return NewExpression(scope + ("new[] " if array else "new "), placement, type_, init)

    def unresolved_name(self) -> Node:
        """``[gs] [sr ...] <base-unresolved-name>``: a name in a dependent expression."""
        global_scope = self.eat("gs")
        if self.eat("sr"):
            c = self.peek()
            if self.new_sr and (c in DIGITS or c.islower() or c in ("C", "U", "L")):
                # Current ABI: "sr <qualifier level>+ E <name>" (A::x is sr1AE1x). Old GCC
                # wrote "sr <type> <name>" (sr1A1x); like GNU, a failed parse is retried
                # that way (see demangle_itanium).
                qualifier = self.simple_id()
                while not self.eat("E"):
                    if self.pos >= self.n:
                        raise ParseError("unterminated unresolved name")
                    qualifier = Nested(qualifier, self.simple_id())
                base = self.base_unresolved_name()
                # GNU scopes the name before adding template arguments here, which makes the
                # whole a template (printed in parentheses as a call's callee).
                if isinstance(base, Template):
                    node: Node = Template(Nested(qualifier, base.name), base.args)
                else:
                    node = Nested(qualifier, base)
            else:
                node = Nested(self.type(), self.base_unresolved_name())
        else:
            node = self.base_unresolved_name()
        if global_scope:
            node = Nested(Name(""), node)
        return node

    def unresolved_type(self) -> Node:
        """A template parameter, decltype or substitution as a qualifier."""
        c = self.peek()
        if c == "T":
            node = self.template_param()
            self.subs.append(node)
            return node
        if c == "D":
            node = self.decltype()
            self.subs.append(node)
            return node
        if c == "S":
            return self.substitution()
        raise ParseError("bad unresolved type")

    def simple_id(self) -> Node:
        """``<source-name> [<template-args>]``."""
        node: Node = self.source_name()
        if self.peek() == "I":
            node = Template(node, self.template_args())
        return node

    def base_unresolved_name(self) -> Node:
        """A name, ``on <operator>`` or ``dn <destructor>``."""
        if self.peek() in DIGITS:
            return self.simple_id()
        if self.eat("dn"):
            if self.peek() in DIGITS:
                inner = self.simple_id()
            else:
                inner = self.unresolved_type()
            return Wrapped("~", inner, "")
        self.eat("on")
        node = self.operator_name(NameInfo())
        if self.peek() == "I":
            node = Template(node, self.template_args())
        return node
