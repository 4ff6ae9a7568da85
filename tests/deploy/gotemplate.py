"""A tiny renderer for the Go-template subset our Helm chart uses (helm is not installable here).

Supported: ``{{ .Values.a.b }}``, ``.Release.*``, ``.Chart.*``, ``.``; pipelines with ``|``;
``{{- if X }} ... {{- else }} ... {{- end }}``; ``{{ define "n" }}`` / ``{{ include "n" . }}``;
functions ``quote``, ``toYaml``, ``nindent``, ``indent``, ``default``, ``eq``, ``ne``, ``not``;
``{{-`` and ``-}}`` whitespace trimming; ``{{/* comments */}}``. A missing ``.Values`` key is an
error (helm would print ``<no value>``), so a template cannot silently use an unknown value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_WORD = re.compile(r'"(?:[^"\\]|\\.)*"|\(|\)|[^\s()]+')


class TemplateError(Exception):
    """A template that this renderer (or helm) would refuse."""


@dataclass
class _If:
    condition: str
    then: list = field(default_factory=list)
    otherwise: list = field(default_factory=list)


def _tokens(text: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", body) tokens, with ``{{-``/``-}}`` trimming applied."""
    out: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for m in _ACTION.finditer(text):
        chunk = text[pos : m.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if m.group(1):
            chunk = chunk.rstrip()
        out.append(("text", chunk))
        body = m.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            out.append(("action", body))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = text[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _parse(tokens: list[tuple[str, str]], i: int, defines: dict, until: tuple[str, ...]):
    """Nodes up to one of the ``until`` keywords; returns (nodes, index, keyword)."""
    nodes: list = []
    while i < len(tokens):
        kind, body = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(body)
            continue
        word = body.split(None, 1)[0]
        if word in until:
            return nodes, i, word
        if word == "if":
            node = _If(body[2:].strip())
            node.then, i, stop = _parse(tokens, i, defines, ("else", "end"))
            if stop == "else":
                node.otherwise, i, _ = _parse(tokens, i, defines, ("end",))
            nodes.append(node)
        elif word == "define":
            name = json.loads(body.split(None, 1)[1])
            defines[name], i, _ = _parse(tokens, i, defines, ("end",))
        elif word in ("else", "end", "range", "with", "template", "block"):
            raise TemplateError(f"unsupported or unbalanced {{{{ {body} }}}}")
        else:
            nodes.append(("action", body))
    if until:
        raise TemplateError(f"missing {{{{ end }}}} (expected one of {until})")
    return nodes, i, None


def go_string(value) -> str:
    """How Go's text/template prints a value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def truthy(value) -> bool:
    """Go template truth: false, 0, nil and empty strings/maps/lists are false."""
    return bool(value)


def to_yaml(value) -> str:
    """Helm's toYaml: YAML block style without the final newline."""
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


class Renderer:
    """Renders templates against a context; ``define``s from every parsed file are shared."""

    def __init__(self, context: dict) -> None:
        self.context = context
        self.defines: dict[str, list] = {}
        self.referenced: set[str] = set()  # .Values paths seen while rendering

    def parse(self, text: str) -> list:
        """Parse a template (collecting its ``define``s)."""
        nodes, _, _ = _parse(_tokens(text), 0, self.defines, ())
        return nodes

    def render(self, text: str) -> str:
        """Render one template file."""
        return self.run(self.parse(text))

    def run(self, nodes: list) -> str:
        """Render parsed ``nodes`` (parse every file first, as helm does, to know all defines)."""
        return self._run(nodes, self.context)

    def _run(self, nodes: list, dot) -> str:
        out = []
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, _If):
                branch = (
                    node.then if truthy(self._pipeline(node.condition, dot)) else node.otherwise
                )
                out.append(self._run(branch, dot))
            else:
                out.append(go_string(self._pipeline(node[1], dot)))
        return "".join(out)

    def _pipeline(self, text: str, dot):
        value, first = None, True
        for command in _split_pipes(text):
            words = _WORD.findall(command)
            value = self._command(words, dot, None if first else value, piped=not first)
            first = False
        return value

    def _command(self, words: list[str], dot, piped_value, piped: bool):
        head, rest = words[0], words[1:]
        functions = {
            "quote": lambda *a: " ".join(json.dumps(go_string(x)) for x in a),
            "toYaml": to_yaml,
            "nindent": lambda n, s: "\n" + _indent(int(n), s),
            "indent": lambda n, s: _indent(int(n), s),
            "default": lambda d, x=None: x if truthy(x) else d,
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "not": lambda a: not truthy(a),
            "include": lambda name, ctx: self._run(self.defines[name], ctx),
        }
        if head in functions:
            args = [self._operand(w, dot) for w in rest]
            if piped:
                args.append(piped_value)
            return functions[head](*args)
        if rest or piped:
            raise TemplateError(f"unknown function {head!r}")
        return self._operand(head, dot)

    def _operand(self, word: str, dot):
        if word.startswith('"'):
            return json.loads(word)
        if re.fullmatch(r"-?\d+", word):
            return int(word)
        if word in ("true", "false"):
            return word == "true"
        if word == ".":
            return dot
        if word.startswith("."):
            value = dot
            path = word[1:].split(".")
            if path[0] == "Values":
                self.referenced.add(".".join(path[1:]))
            for i, key in enumerate(path):
                if not isinstance(value, dict) or key not in value:
                    raise TemplateError(f"{word}: no {'.'.join(path[: i + 1])}")
                value = value[key]
            return value
        raise TemplateError(f"cannot evaluate {word!r}")


def _split_pipes(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "|" and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def _indent(n: int, text: str) -> str:
    return "\n".join((" " * n + line) if line else line for line in str(text).split("\n"))
