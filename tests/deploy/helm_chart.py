"""The Helm chart in tests: its values, the values its templates read, and rendering it."""

from __future__ import annotations

import glob
import os
import re

import yaml

from .gotemplate import Renderer
from .manifests import DEPLOY, load_documents

CHART = os.path.join(DEPLOY, "helm", "pureprof")
TEMPLATES = sorted(glob.glob(os.path.join(CHART, "templates", "*")))
_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_]\w*)+)")


def chart_values() -> dict:
    with open(os.path.join(CHART, "values.yaml")) as f:
        return yaml.safe_load(f)


def chart_metadata() -> dict:
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        return yaml.safe_load(f)


def leaf_paths(value, prefix: str = "") -> set[str]:
    """Dotted paths of the leaves of ``value`` (an empty map or list is a leaf)."""
    if isinstance(value, dict) and value:
        return set().union(
            *(leaf_paths(v, f"{prefix}.{k}" if prefix else k) for k, v in value.items())
        )
    return {prefix}


def template_references() -> set[str]:
    refs = set()
    for path in TEMPLATES:
        with open(path) as f:
            refs |= {m.group(1)[1:] for m in _VALUES_REF.finditer(f.read())}
    return refs


def render(values: dict, release: str = "prof", namespace: str = "observability") -> dict:
    """Render every template; returns {file name: text}."""
    chart = {k[0].upper() + k[1:]: v for k, v in chart_metadata().items()}
    renderer = Renderer(
        {"Values": values, "Release": {"Name": release, "Namespace": namespace}, "Chart": chart}
    )
    parsed = {}
    for path in TEMPLATES:
        with open(path) as f:
            parsed[os.path.basename(path)] = renderer.parse(f.read())
    return {name: renderer.run(nodes) for name, nodes in parsed.items()}


def rendered_objects(values: dict) -> list[dict]:
    docs = []
    for name, text in render(values).items():
        if name.endswith(".yaml"):
            docs += load_documents(text)
    return docs
