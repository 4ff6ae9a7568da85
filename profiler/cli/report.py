"""What a one-shot run prints at its end: the top functions, what was written, how to look at it."""

from __future__ import annotations

import os
import shlex

from ..output.collected import CollectedProfile


def how_to_look(path: str, fmt: str) -> str:
    """One line telling how to open ``path`` (written in ``fmt``) with the usual viewers."""
    quoted = shlex.quote(path)
    if fmt == "pprof":
        return (
            f"Look at it: go tool pprof -http=: {quoted}   (flame graph in a browser; "
            "-top for a table), or load it at https://www.speedscope.app"
        )
    if fmt in ("html", "svg"):
        url = "file://" + os.path.abspath(path)
        return f"Open it in a browser: {url}"
    if fmt == "speedscope":
        return f"Look at it: npx speedscope {quoted}, or load it at https://www.speedscope.app"
    if fmt == "folded":
        return (
            f"Look at it: flamegraph.pl {quoted} > flame.svg, or load it at "
            "https://www.speedscope.app"
        )
    if fmt == "otlp":
        return (
            "An OTLP ExportProfilesServiceRequest: send it to a collector, or turn it into "
            f"pprof with python -m pprof_encoder convert {quoted} profile.pb.gz"
        )
    return ""


def summary(profile: CollectedProfile, path: str, fmt: str, top: int) -> str:
    """The end-of-run text: the top ``top`` functions, the file written and its counts, and
    how to look at it."""
    parts = []
    if top > 0:
        parts.append(profile.top_table(top) + "\n")
    if profile.off_cpu is not None:
        from ..output.wall_view import off_cpu_summary

        parts.append(off_cpu_summary(profile.to_pprof(), profile.off_cpu) + "\n")
    ks, ps = profile.kernel_stats, profile.pipeline_stats
    parts.append(
        f"Wrote {path} ({fmt}): {profile.total} samples in {profile.duration:.1f} s; "
        f"lost {ks.lost} (counts map full), incomplete stacks {ks.incomplete} "
        f"(collisions {ks.user_stack_collisions + ks.kernel_stack_collisions}), "
        f"unsymbolized frames {ps.unsymbolized_frames} of {ps.frames}"
    )
    hint = how_to_look(path, fmt)
    if hint:
        parts.append(hint)
    return "\n".join(parts)
