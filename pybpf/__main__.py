"""``python -m pybpf probe [--json]``: which BPF features the running kernel has."""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys

from .errors import MissingPrivilegesError


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a feature is missing, 2 no privileges)."""
    parser = argparse.ArgumentParser(prog="python -m pybpf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    probe = sub.add_parser("probe", help="probe the kernel's BPF features (needs root)")
    probe.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    from . import features

    try:
        results = features.probe_all()
    except MissingPrivilegesError as exc:
        print(f"pybpf probe: {exc.strerror}", file=sys.stderr)
        return 2
    if args.json:
        doc = {
            "kernel": platform.release(),
            "features": [dataclasses.asdict(r) for r in results],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(format_table(results))
    return 0 if all(r.available for r in results) else 1


def format_table(results: list) -> str:
    """The probe results as an aligned text table."""
    rows = [("feature", "kind", "available", "since", "detail")]
    rows += [(r.name, r.kind, "yes" if r.available else "NO", r.since, r.detail) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"kernel {platform.release()}"]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
