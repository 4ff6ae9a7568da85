"""A small Dockerfile reader for tests: stages, their instructions, and .dockerignore matching.

It understands what deploy/Dockerfile uses: parser directives and comments, line continuations,
``ARG`` before ``FROM`` (with ``${NAME}`` substitution in ``FROM``), ``FROM image AS name``, and
JSON (exec) or shell forms. It is not a full BuildKit frontend.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass
class Instruction:
    """One instruction: its keyword (upper case), its raw argument text and its flags."""

    keyword: str
    text: str
    flags: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # after the flags; exec form decoded

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, else None."""
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    """A build stage: ``FROM base AS name`` and the instructions after it."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """The instructions of this stage with ``keyword``."""
        return [i for i in self.instructions if i.keyword == keyword]


_FLAG = re.compile(r"--([a-z-]+)=(\S+)\s*")


def logical_lines(text: str) -> list[str]:
    """Join continuation lines, dropping comments and blank lines (directives included)."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ``ARG`` defaults and the stages of a Dockerfile."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
            continue
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), ""), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
            continue
        if not stages:
            raise ValueError(f"{keyword} before the first FROM")
        flags = {}
        while (m := _FLAG.match(rest)) is not None:
            flags[m.group(1)] = m.group(2)
            rest = rest[m.end() :]
        instruction = Instruction(keyword, rest, flags)
        instruction.args = instruction.exec_form or rest.split()
        stages[-1].instructions.append(instruction)
    return global_args, stages


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether ``path`` (relative, ``/``-separated) is excluded by .dockerignore ``patterns``.

    The last matching pattern wins; ``!`` re-includes; a pattern matching a directory covers
    everything under it; ``**`` matches any number of directories.
    """
    result = False
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        regex = _glob_regex(pat)
        if any(regex.fullmatch(p) for p in prefixes):
            result = not negate
    return result


def _glob_regex(pattern: str) -> re.Pattern:
    """A regex for a .dockerignore glob: ``**/`` spans directories, ``*`` and ``?`` do not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def dockerignore_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file (comments and blank lines dropped)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
