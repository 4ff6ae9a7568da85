"""Errors raised while building or assembling a program."""

from __future__ import annotations


class AssemblyError(ValueError):
    """The program cannot be assembled; the message says where and why."""


class DuplicateLabelError(AssemblyError):
    """A label was defined twice."""


class UnknownLabelError(AssemblyError):
    """A jump or call names a label that is never defined."""


class JumpRangeError(AssemblyError):
    """A jump is too far for its offset field (16 bits; use ``gotol`` for 32)."""


class MissingMapError(AssemblyError):
    """An instruction names a map that ``assemble(maps=...)`` does not provide."""
