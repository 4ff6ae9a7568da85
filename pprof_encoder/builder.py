"""ProfileBuilder: stacks of frames in, a :class:`~.profile.Profile` out.

Declare the sample types (and period), then call ``add_sample(frames, values, labels)`` with
frames leaf first. The builder interns functions, mappings and locations (ids from 1, in
first-seen order) and merges samples with equal stacks and equal labels, summing their values.
Same calls in the same order → same profile → same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from typing import NamedTuple

from .gc_pause import paused_gc
from .profile import Function, Label, Line, Location, Mapping, Profile, Sample, ValueType

LabelValue = str | int | tuple[int, str]

# Marks a frame that is inlined into its caller: its location depends on the frames after it.
_INLINED: Location = Location(id=-1)


class Frame(NamedTuple):
    """One frame of a stack as the caller knows it.

    ``inlined=True`` means the frame was inlined into the next frame of the stack (its caller):
    both become lines of one pprof Location, sharing the caller's address and mapping.
    ``system_name`` is the mangled name (defaults to ``function``); ``start_line`` the
    function's first line (0: unknown).
    """

    function: str
    file: str = ""
    line: int = 0
    address: int = 0
    mapping: Mapping | None = None
    system_name: str | None = None
    inlined: bool = False
    start_line: int = 0


def _as_value_type(vt: ValueType | tuple[str, str]) -> ValueType:
    return vt if isinstance(vt, ValueType) else ValueType(*vt)


class ProfileBuilder:
    """Builds a pprof profile sample by sample (see the module docstring)."""

    def __init__(
        self,
        sample_types: Sequence[ValueType | tuple[str, str]],
        period_type: ValueType | tuple[str, str] | None = None,
        period: int = 0,
        *,
        time_nanos: int = 0,
        duration_nanos: int = 0,
        comments: Iterable[str] = (),
        drop_frames: str = "",
        keep_frames: str = "",
        default_sample_type: str = "",
    ) -> None:
        if not sample_types:
            raise ValueError("a profile needs a sample type, e.g. ('cpu', 'nanoseconds')")
        self.sample_types = [_as_value_type(vt) for vt in sample_types]
        self.period_type = _as_value_type(period_type) if period_type is not None else None
        self.period = period
        self.time_nanos = time_nanos
        self.duration_nanos = duration_nanos
        self.comments = list(comments)
        self.drop_frames = drop_frames
        self.keep_frames = keep_frames
        self.default_sample_type = default_sample_type
        self._functions: dict[tuple, Function] = {}
        self._mappings: dict[tuple, Mapping] = {}
        self._locations: dict[tuple, Location] = {}
        # Caches of the stack interning: a frame → its location (or _INLINED), and a run of
        # inlined frames plus their caller → its location.
        self._single_frame: dict[Frame | str, Location] = {}
        self._inlined_runs: dict[tuple, Location] = {}
        self._label_sets: dict[tuple, tuple[Label, ...]] = {}
        self._samples: dict[tuple, list[int]] = {}

    # Interning ---------------------------------------------------------------------------

    def _mapping(self, m: Mapping) -> Mapping:
        key = (m.start, m.limit, m.offset, m.filename, m.build_id)
        found = self._mappings.get(key)
        if found is None:
            found = Mapping(
                m.start,
                m.limit,
                m.offset,
                m.filename,
                m.build_id,
                m.has_functions,
                m.has_filenames,
                m.has_line_numbers,
                m.has_inline_frames,
                id=len(self._mappings) + 1,
            )
            self._mappings[key] = found
        return found

    def _function(
        self, name: str, system_name: str, filename: str, start_line: int = 0
    ) -> Function:
        key = (name, system_name, filename, start_line)
        found = self._functions.get(key)
        if found is None:
            found = Function(name, system_name, filename, start_line, len(self._functions) + 1)
            self._functions[key] = found
        return found

    def _location(self, frames: list[Frame]) -> Location:
        """One location from an innermost-first run of frames (all but the last inlined)."""
        outer = frames[-1]
        mapping = self._mapping(outer.mapping) if outer.mapping is not None else None
        key = (
            mapping.id if mapping is not None else 0,
            outer.address,
            tuple((f.function, f.system_name, f.file, f.line, f.start_line) for f in frames),
        )
        found = self._locations.get(key)
        if found is None:
            lines = [
                Line(
                    self._function(
                        f.function,
                        f.function if f.system_name is None else f.system_name,
                        f.file,
                        f.start_line,
                    ),
                    f.line,
                )
                for f in frames
            ]
            found = Location(lines, mapping, outer.address, False, len(self._locations) + 1)
            if mapping is not None:
                mapping.has_functions = True
                if any(f.file for f in frames):
                    mapping.has_filenames = True
                if any(f.line for f in frames):
                    mapping.has_line_numbers = True
                if len(frames) > 1:
                    mapping.has_inline_frames = True
            self._locations[key] = found
        return found

    def _stack(self, frames: Sequence[Frame | str]) -> tuple[Location, ...]:
        get = self._single_frame.get
        locations = [get(f) for f in frames]
        if _INLINED not in locations:
            if None not in locations:  # every frame seen before, none inlined: most stacks
                return tuple(locations)  # type: ignore[arg-type]
        else:
            joined = self._join_inlined_runs(frames, locations)
            if joined is not None:
                return joined
        with paused_gc():
            return self._new_stack(frames)

    def _join_inlined_runs(
        self, frames: Sequence[Frame | str], known: list
    ) -> tuple[Location, ...] | None:
        """The stack from known frames and known inlined runs; None if anything is new.

        A run's caller is looked up with the run, not alone: it may never have been seen alone.
        """
        out = []
        runs = self._inlined_runs
        i = 0
        n = len(frames)
        while i < n:
            loc = known[i]
            if loc is not _INLINED:
                if loc is None:
                    return None
                out.append(loc)
                i += 1
                continue
            j = i + 1
            while j < n and known[j] is _INLINED:
                j += 1
            loc = runs.get(tuple(frames[i : j + 1]))  # the inlined frames and their caller
            if loc is None:
                return None
            out.append(loc)
            i = j + 1
        return tuple(out)

    def _new_stack(self, frames: Sequence[Frame | str]) -> tuple[Location, ...]:
        locations = []
        pending: list[Frame] = []
        keys: list[Frame | str] = []
        single = self._single_frame
        for key in frames:
            if isinstance(key, str):
                f = Frame(key)
            elif isinstance(key, Frame):
                f = key
            else:
                raise TypeError(f"a frame must be a Frame or a str, not {type(key).__name__}")
            pending.append(f)
            keys.append(key)
            if f.inlined:
                single[key] = _INLINED
                continue
            if len(pending) == 1:
                loc = single.get(key)
                if loc is None:
                    # The same frame always gives the same location: remember it.
                    loc = single[key] = self._location(pending)
            else:
                loc = self._inlined_runs.get(tuple(keys))
                if loc is None:
                    loc = self._inlined_runs[tuple(keys)] = self._location(pending)
            locations.append(loc)
            pending = []
            keys = []
        if pending:  # an inlined frame with no caller below it: keep it as its own location
            locations.append(self._location(pending))
        return tuple(locations)

    def _labels(self, labels: MappingABC[str, LabelValue]) -> tuple[Label, ...]:
        key = tuple(sorted(labels.items()))
        found = self._label_sets.get(key)
        if found is None:
            out = []
            for name, value in key:
                if isinstance(value, str):
                    out.append(Label(name, str=value))
                elif isinstance(value, int):
                    out.append(Label(name, num=int(value), is_num=True))
                elif (
                    isinstance(value, tuple)
                    and len(value) == 2
                    and isinstance(value[0], int)
                    and isinstance(value[1], str)
                ):
                    out.append(Label(name, num=value[0], num_unit=value[1], is_num=True))
                else:
                    raise TypeError(
                        f"label {name!r}: value must be str, int or (int, unit), not {value!r}"
                    )
            found = self._label_sets[key] = tuple(out)
        return found

    # Public API ----------------------------------------------------------------------------

    def add_sample(
        self,
        frames: Sequence[Frame | str],
        values: Sequence[int] | int,
        labels: MappingABC[str, LabelValue] | None = None,
    ) -> None:
        """Add one sample: ``frames`` leaf first, one value per sample type, optional labels.

        A sample with the same stack and labels as an earlier one is merged into it.
        """
        if not isinstance(frames, list | tuple):
            frames = list(frames)  # a generator would be consumed by the first pass
        stack = self._stack(frames)
        if isinstance(values, int):
            values = (values,)
        if len(values) != len(self.sample_types):
            raise ValueError(
                f"{len(values)} values given but the profile has {len(self.sample_types)} "
                "sample types"
            )
        label_set = self._labels(labels) if labels else ()
        sample_key = (stack, label_set)
        acc = self._samples.get(sample_key)
        if acc is None:
            self._samples[sample_key] = list(values)
        else:
            for i, v in enumerate(values):
                acc[i] += v

    def build(self) -> Profile:
        """The profile built so far (the builder can keep adding samples afterwards)."""
        with paused_gc():
            samples = [
                Sample(list(stack), list(values), labels)
                for (stack, labels), values in self._samples.items()
            ]
        return Profile(
            sample_type=list(self.sample_types),
            samples=samples,
            mappings=list(self._mappings.values()),
            locations=list(self._locations.values()),
            functions=list(self._functions.values()),
            drop_frames=self.drop_frames,
            keep_frames=self.keep_frames,
            time_nanos=self.time_nanos,
            duration_nanos=self.duration_nanos,
            period_type=self.period_type,
            period=self.period,
            comments=list(self.comments),
            default_sample_type=self.default_sample_type,
        )

    def encode(self) -> bytes:
        """Shortcut for ``build().encode()``."""
        return self.build().encode()

    def write(self, path: str) -> None:
        """Shortcut for ``build().write(path)`` (gzip-compressed pprof)."""
        self.build().write(path)
