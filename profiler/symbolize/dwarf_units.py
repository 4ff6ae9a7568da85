"""One compile unit's functions: address ranges of subprograms and their inlined-call trees.

A compile unit is walked once (pyelftools parses its DIEs) and reduced to plain data:

- ``functions``: the concrete subprograms (those with code), sorted by start address; each is a
  ``ScopeNode`` whose children are the ``DW_TAG_inlined_subroutine`` entries it contains (lexical
  blocks flattened away), themselves trees of nested inlined calls;
- ``names``: for every subprogram DIE (declarations and abstract instances included), its name,
  linkage name, enclosing scope and the DIE its ``DW_AT_abstract_origin`` or
  ``DW_AT_specification`` points to, so names are resolved without keeping pyelftools objects.

Bounded for hostile input: DIEs nest at most :data:`MAX_DEPTH` deep, ``DW_AT_sibling`` only ever
jumps forward inside the unit, and a unit records at most :data:`MAX_RANGES_PER_BYTE` code ranges
per byte of its DIEs (plus a base), so shared range lists cannot multiply memory. What a walk
raises on bad bytes (``IndexError``, ``struct.error``, LEB128 and pyelftools errors) is turned
into ``DwarfError`` by ``DwarfInfo``, the readers' public boundary.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from elftools.dwarf.ranges import BaseAddressEntry

from .dwarf_errors import DwarfError

# DIEs whose name becomes part of the qualified name of the functions declared inside them.
_SCOPE_TAGS = frozenset(
    {
        "DW_TAG_namespace",
        "DW_TAG_structure_type",
        "DW_TAG_class_type",
        "DW_TAG_union_type",
        "DW_TAG_enumeration_type",
        "DW_TAG_interface_type",
    }
)
# Blocks inside a function that may hold inlined calls; their own identity does not matter.
_BLOCK_TAGS = frozenset(
    {"DW_TAG_lexical_block", "DW_TAG_try_block", "DW_TAG_catch_block", "DW_TAG_call_site"}
)
_REF_FORMS = frozenset(
    {"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata"}
)
# Addresses a linker writes into the DWARF of code it discarded (0, -1, -2): never real code.
_TOMBSTONES = (0, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFE)
MAX_DEPTH = 256  # nesting of DIEs (real DWARF: tens)
# Code ranges recorded per byte of a unit (plus a base). Real units: well under 1 a byte.
MAX_RANGES_PER_BYTE = 4
_RANGES_BASE = 1 << 16
_MAX_LINE = (1 << 31) - 1


def _small(value: Any) -> int:
    """A call file or line number as a plain small int (anything else is 0: unknown)."""
    return value if isinstance(value, int) and 0 <= value <= _MAX_LINE else 0


@dataclass(slots=True)
class ScopeNode:
    """A function body (concrete subprogram) or an inlined call inside one.

    ``origin`` is the absolute .debug_info offset of the DIE that names it (the subprogram itself,
    or the inlined call's abstract origin). ``call_file``/``call_line`` give the call site of an
    inlined call, in its caller. ``children`` are ``(low, high, node)`` sorted by ``low``.
    """

    origin: int
    call_file: int = 0
    call_line: int = 0
    children: list[tuple[int, int, ScopeNode]] = field(default_factory=list)
    _lows: list[int] | None = None

    def child_at(self, address: int) -> ScopeNode | None:
        """The inlined call directly inside this node whose code covers ``address``."""
        children = self.children
        if not children:
            return None
        if self._lows is None:
            children.sort(key=lambda c: c[0])
            self._lows = [c[0] for c in children]
        i = bisect_right(self._lows, address) - 1
        # Siblings do not overlap in well-formed DWARF; look back a little in case they do.
        for j in range(i, max(i - 4, -1), -1):
            low, high, node = children[j]
            if low <= address < high:
                return node
        return None


@dataclass(frozen=True, slots=True)
class DieName:
    """What a subprogram DIE says about its name (before following references)."""

    name: str
    linkage: str
    scope: tuple[str, ...]
    ref: int  # absolute offset of DW_AT_abstract_origin / DW_AT_specification, or -1


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class CompileUnitIndex:
    """Functions, inlined-call trees and names of one compile unit (see the module docstring).

    ``sections`` (a ``dwarf_dies.Sections``) selects the fast raw-bytes reader; without it the
    DIEs are walked with pyelftools (slower; the reference the tests compare the reader with).
    """

    def __init__(self, cu: Any, range_lists: Any, sections: Any = None) -> None:
        self.offset: int = cu.cu_offset
        self._cu = cu
        self._range_lists = range_lists
        self._reader = None
        self.functions: list[tuple[int, int, ScopeNode]] = []
        self.names: dict[int, DieName] = {}
        self.die_count = 0
        self._ranges_left = _RANGES_BASE + MAX_RANGES_PER_BYTE * cu.size
        if sections is not None:
            from .dwarf_dies import UnitReader

            self._reader = reader = UnitReader(sections, cu)
            top_attributes = reader.top
            low = top_attributes.get("DW_AT_low_pc")
            self._cu_base = low.value if low is not None and isinstance(low.value, int) else 0
        else:
            top = cu.get_top_DIE()
            top_attributes = top.attributes
            self._cu_base = unit_base_address(cu)
        comp_dir = top_attributes.get("DW_AT_comp_dir")
        self.comp_dir = _text(comp_dir.value) if comp_dir is not None else ""
        stmt_list = top_attributes.get("DW_AT_stmt_list")
        self.stmt_list: int | None = (
            stmt_list.value if stmt_list is not None and isinstance(stmt_list.value, int) else None
        )
        if self._reader is not None:
            self._walk_raw()
        else:
            self._walk(top, (), None, 0)
        self.functions.sort(key=lambda f: (f[0], f[1]))
        self._lows = [f[0] for f in self.functions]
        # The walk is done: drop pyelftools objects so the index is plain data.
        self._cu = None
        self._range_lists = None
        self._reader = None

    # -- lookups -------------------------------------------------------------------------------

    def function_at(self, address: int) -> ScopeNode | None:
        """The concrete subprogram whose code covers ``address`` (the smallest, if nested)."""
        functions = self.functions
        i = bisect_right(self._lows, address) - 1
        best = None
        # Ranges can nest (a nested function inside its parent's range): prefer the innermost.
        for j in range(i, max(i - 16, -1), -1):
            low, high, node = functions[j]
            if low <= address < high and (best is None or high - low < best[1] - best[0]):
                best = (low, high, node)
        return best[2] if best is not None else None

    def inline_chain(self, address: int) -> list[ScopeNode]:
        """The function at ``address`` and its inlined calls covering it, outermost first."""
        node = self.function_at(address)
        chain: list[ScopeNode] = []
        while node is not None:
            chain.append(node)
            node = node.child_at(address)
        return chain

    # -- the walks -----------------------------------------------------------------------------

    def _ref(self, attr: Any) -> int:
        """The absolute .debug_info offset a reference attribute points to (-1 if none)."""
        value = attr.value
        if not isinstance(value, int):
            return -1
        if attr.form in _REF_FORMS:
            return value + self.offset
        return value  # DW_FORM_ref_addr (and friends) are section offsets already

    def _ranges(self, attributes: dict[str, Any]) -> list[tuple[int, int]]:
        reader = self._reader
        if reader is None or "DW_AT_ranges" not in attributes or "DW_AT_high_pc" in attributes:
            spans = die_ranges(attributes, self._cu, self._range_lists, self._cu_base)
        else:
            spans = reader.range_list(attributes["DW_AT_ranges"].value, self._cu_base)
            spans = [(lo, hi) for lo, hi in spans if hi > lo and lo not in _TOMBSTONES]
        self._ranges_left -= len(spans)
        if self._ranges_left < 0:
            raise DwarfError(f"unit at {self.offset:#x}: more code ranges than its size justifies")
        return spans

    def _walk(
        self, die: Any, scope: tuple[str, ...], function: ScopeNode | None, depth: int
    ) -> None:
        """The pyelftools walk: recursive over ``iter_children``."""
        if depth >= MAX_DEPTH:
            raise DwarfError(f"unit at {self.offset:#x}: DIEs nested deeper than {MAX_DEPTH}")
        for child in die.iter_children():
            self.die_count += 1
            context = self._visit(child.offset, child.tag, child.attributes, scope, function)
            if context is not None and child.has_children:
                self._walk(child, *context, depth + 1)

    def _walk_raw(self) -> None:
        """The fast walk: the same visits, over the raw bytes, with an explicit stack."""
        from .dwarf_dies import _uleb

        reader = self._reader
        data = reader.s.info
        abbrevs = reader.abbrevs
        end = reader.end
        pos = reader.after_top
        if not reader.top_has_children:
            return
        # One context per open level of children: (scope, function), or None to skip them.
        stack: list[tuple[tuple[str, ...], ScopeNode | None] | None] = [((), None)]
        while stack and pos < end:
            offset = pos
            code, pos = _uleb(data, pos)
            if code == 0:
                stack.pop()
                continue
            tag, has_children, specs = abbrevs[code]
            attributes, pos = reader.read_attributes(pos, specs)
            parent = stack[-1]
            context = None
            if parent is not None:
                self.die_count += 1
                context = self._visit(offset, tag, attributes, *parent)
            if has_children:
                sibling = attributes.get("DW_AT_sibling")
                target = self._ref(sibling) if sibling is not None else -1
                if context is None and pos <= target <= end:
                    pos = target  # jump (forward only) over a subtree we do not need
                elif len(stack) >= MAX_DEPTH:
                    raise DwarfError(f"unit at {self.offset:#x}: DIEs nest deeper than {MAX_DEPTH}")
                else:
                    stack.append(context)

    def _visit(
        self,
        offset: int,
        tag: str,
        attributes: dict[str, Any],
        scope: tuple[str, ...],
        function: ScopeNode | None,
    ) -> tuple[tuple[str, ...], ScopeNode | None] | None:
        """Record one DIE; returns the context for its children, or None to skip them."""
        if tag == "DW_TAG_subprogram":
            return self._subprogram(offset, attributes, scope)
        if tag == "DW_TAG_inlined_subroutine":
            origin = attributes.get("DW_AT_abstract_origin")
            if function is None or origin is None:
                return None
            call_file = attributes.get("DW_AT_call_file")
            call_line = attributes.get("DW_AT_call_line")
            node = ScopeNode(
                origin=self._ref(origin),
                call_file=_small(call_file.value) if call_file is not None else 0,
                call_line=_small(call_line.value) if call_line is not None else 0,
            )
            for low, high in self._ranges(attributes):
                function.children.append((low, high, node))
            return scope, node
        if tag in _BLOCK_TAGS:
            return (scope, function) if function is not None else None
        if tag in _SCOPE_TAGS:
            name = attributes.get("DW_AT_name")
            label = _text(name.value) if name is not None else _anonymous(tag)
            return (*scope, label), None
        return None

    def _subprogram(
        self, offset: int, attributes: dict[str, Any], scope: tuple[str, ...]
    ) -> tuple[tuple[str, ...], ScopeNode | None]:
        name = attributes.get("DW_AT_name")
        linkage = attributes.get("DW_AT_linkage_name") or attributes.get("DW_AT_MIPS_linkage_name")
        ref = attributes.get("DW_AT_abstract_origin") or attributes.get("DW_AT_specification")
        label = _text(name.value) if name is not None else ""
        self.names[offset] = DieName(
            name=label,
            linkage=_text(linkage.value) if linkage is not None else "",
            scope=scope,
            ref=self._ref(ref) if ref is not None else -1,
        )
        ranges = self._ranges(attributes)
        node = ScopeNode(origin=offset) if ranges else None
        for low, high in ranges:
            self.functions.append((low, high, node))
        # Nested functions (C++ lambdas' classes, GNU C nested functions) are scoped by it.
        return ((*scope, label) if label else scope), node


def die_ranges(
    attributes: dict[str, Any], cu: Any, range_lists: Any, cu_base: int
) -> list[tuple[int, int]]:
    """The code ranges ``[low, high)`` of a DIE: low/high pc, or a DWARF 4/5 range list."""
    low = attributes.get("DW_AT_low_pc")
    high = attributes.get("DW_AT_high_pc")
    if low is not None and high is not None:
        if low.value in _TOMBSTONES:
            return []
        end = high.value if high.form == "DW_FORM_addr" else low.value + high.value
        return [(low.value, end)] if end > low.value else []
    # A unit may carry both DW_AT_low_pc (its base address) and DW_AT_ranges.
    ranges = attributes.get("DW_AT_ranges")
    if ranges is None or range_lists is None:
        return []
    base = cu_base
    out = []
    # pyelftools has already turned DW_FORM_rnglistx into a section offset.
    for entry in range_lists.get_range_list_at_offset(ranges.value, cu=cu):
        if isinstance(entry, BaseAddressEntry):
            base = entry.base_address
            continue
        if entry.is_absolute:
            low_pc, high_pc = entry.begin_offset, entry.end_offset
        else:
            low_pc, high_pc = base + entry.begin_offset, base + entry.end_offset
        if high_pc > low_pc and low_pc not in _TOMBSTONES:
            out.append((low_pc, high_pc))
    return out


def unit_code_ranges(cu: Any, sections: Any) -> list[tuple[int, int]]:
    """The code ranges of a unit from its top DIE alone (read with the fast reader)."""
    from .dwarf_dies import UnitReader

    reader = UnitReader(sections, cu)
    top = reader.top
    low = top.get("DW_AT_low_pc")
    base = low.value if low is not None and isinstance(low.value, int) else 0
    if "DW_AT_ranges" in top and "DW_AT_high_pc" not in top:
        spans = reader.range_list(top["DW_AT_ranges"].value, base)
        return [(lo, hi) for lo, hi in spans if hi > lo and lo not in _TOMBSTONES]
    return die_ranges(top, cu, None, base)


def unit_base_address(cu: Any) -> int:
    """The unit's base address (its top DIE's ``DW_AT_low_pc``, else 0)."""
    low = cu.get_top_DIE().attributes.get("DW_AT_low_pc")
    return low.value if low is not None and isinstance(low.value, int) else 0


def _anonymous(tag: str) -> str:
    """How demanglers print an unnamed scope."""
    if tag == "DW_TAG_namespace":
        return "(anonymous namespace)"
    return "{unnamed type}"
