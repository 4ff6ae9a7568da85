"""Which format a file name asks for: the one rule, shared by every tool that reads names.

Light on purpose (nothing else is imported): a command can check its output's name before it
loads anything.
"""

from __future__ import annotations

FORMATS = ("pprof", "folded", "otlp")


def format_from_name(name: str) -> str | None:
    """The format a file name suggests, or None (``-`` and unknown names)."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    if "otlp" in lower.rsplit("/", 1)[-1] or lower.endswith(".binpb"):
        return "otlp"
    if lower.endswith((".folded", ".collapsed", ".txt", ".stacks")):
        return "folded"
    if lower.endswith((".pb", ".pprof", ".prof", ".proto")):
        return "pprof"
    return None
