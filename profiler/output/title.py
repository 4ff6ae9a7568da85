"""What a profile is of: command line, pids, host, when, how long, which sample type.

The title travels inside the pprof file as comments (``pureprof.title.<field>: <JSON value>``, one
comment per field), so a flame graph rendered later from the file (or by ``go tool pprof
-comments``) still says what was profiled. Start time and duration are not duplicated there: they
are the profile's own ``time_nanos`` and ``duration_nanos``; the sample type is the one rendered.
"""

from __future__ import annotations

import datetime
import json
import shlex
import socket
from dataclasses import dataclass, replace

from pprof_encoder.profile import Profile

COMMENT_PREFIX = "pureprof.title."
_MAX_FIELD = 4096  # characters kept of a text field (a title, not a payload)
_MAX_PIDS = 1000


@dataclass(frozen=True, slots=True)
class ProfileTitle:
    """The title of a profile. Empty fields are unknown and left out of the display."""

    command: str = ""  # the profiled command line(s)
    pids: tuple[int, ...] = ()  # the target processes
    scope: str = ""  # what was profiled when no command says it: "whole machine", "cgroup X"
    host: str = ""
    start_time: float = 0.0  # Unix seconds
    duration: float = 0.0  # seconds
    sample_type: str = ""  # "cpu/nanoseconds"

    def comments(self) -> list[str]:
        """The pprof comments that carry the fields not stored elsewhere in the profile."""
        out = []
        if self.command:
            out.append(f"{COMMENT_PREFIX}command: {json.dumps(self.command[:_MAX_FIELD])}")
        if self.pids:
            out.append(f"{COMMENT_PREFIX}pids: {json.dumps(list(self.pids[:_MAX_PIDS]))}")
        if self.scope:
            out.append(f"{COMMENT_PREFIX}scope: {json.dumps(self.scope[:_MAX_FIELD])}")
        if self.host:
            out.append(f"{COMMENT_PREFIX}host: {json.dumps(self.host[:_MAX_FIELD])}")
        return out

    @classmethod
    def from_profile(cls, profile: Profile, sample_index: int | None = None) -> ProfileTitle:
        """The title a profile carries: its comments, times and (rendered) sample type.

        Comments that are not ours, or ours but malformed, are ignored: a title is best effort and
        the file may come from anywhere.
        """
        fields: dict[str, object] = {}
        for comment in profile.comments:
            if not comment.startswith(COMMENT_PREFIX):
                continue
            key, sep, raw = comment[len(COMMENT_PREFIX) :].partition(": ")
            if not sep:
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if key in ("command", "scope", "host") and isinstance(value, str):
                fields[key] = value[:_MAX_FIELD]
            elif key == "pids" and isinstance(value, list):
                fields["pids"] = tuple(p for p in value[:_MAX_PIDS] if type(p) is int)
        if profile.sample_type:
            if sample_index is None:
                sample_index = profile.sample_index()
            vt = profile.sample_type[sample_index]
            fields["sample_type"] = f"{vt.type}/{vt.unit}"
        return cls(
            start_time=profile.time_nanos / 1e9,
            duration=profile.duration_nanos / 1e9,
            **fields,  # type: ignore[arg-type]
        )

    def with_sample_type(self, sample_type: str) -> ProfileTitle:
        """The same title for another sample type."""
        return replace(self, sample_type=sample_type)

    def heading(self) -> str:
        """The main line: the command, or what was profiled when there is no command."""
        if self.command:
            return self.command
        if self.scope:
            return self.scope
        if self.pids:
            return "pid " + ", ".join(map(str, self.pids))
        return "profile"

    def details(self) -> list[tuple[str, str]]:
        """(label, text) pairs of the known fields, for a subtitle line."""
        out = []
        if self.pids:
            out.append(("pid" if len(self.pids) == 1 else "pids", ", ".join(map(str, self.pids))))
        if self.host:
            out.append(("host", self.host))
        if self.duration:
            out.append(("duration", f"{self.duration:.1f} s"))
        if self.start_time:
            when = datetime.datetime.fromtimestamp(self.start_time, datetime.UTC)
            out.append(("date", when.strftime("%Y-%m-%d %H:%M:%S UTC")))
        if self.sample_type:
            out.append(("sample type", self.sample_type))
        return out

    def text(self) -> str:
        """The whole title on one line: ``command — pid 42 · host h · ...``."""
        rest = " · ".join(f"{label} {text}" for label, text in self.details())
        return f"{self.heading()} — {rest}" if rest else self.heading()


def describe_targets(pids: list[int] | tuple[int, ...], cgroup: str | None = None) -> ProfileTitle:
    """The title of a profile of ``pids`` or ``cgroup`` (neither: the whole machine) on this host,
    with the targets' command lines read from /proc now, while they run (they may exit before the
    end of the profile)."""
    from ..process.info import read_process_info

    commands = []
    for pid in pids:
        info = read_process_info(pid)
        if info is not None:
            commands.append(shlex.join(info.cmdline) if info.cmdline else f"[{info.name}]")
    command = "; ".join(dict.fromkeys(commands))  # equal command lines once, in order
    if pids:
        scope = ""
    elif cgroup:
        scope = f"cgroup {cgroup}"
    else:
        scope = "whole machine"
    return ProfileTitle(
        command=command[:_MAX_FIELD], pids=tuple(pids), scope=scope, host=socket.gethostname()
    )
