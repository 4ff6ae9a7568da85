"""CPython frames inside a session: the tracker started beside the CPU sampler.

The sampler walks CPython frames in the kernel when its options say so (``--python``, on by
default in ``auto``) and owns the walk's maps; this module starts the
:class:`~profiler.python.tracker.PythonTracker` that fills them (interpreters, thread states)
and names what the walk stores. It looks for interpreters in the targets, or, for the whole
machine or a cgroup, in every process that maps a ``python3*`` file or ``libpython3.X.so``
(processes that appear later are looked at on first sight). The tracker forgets a process
through the registry's one forget path, and the pipeline merges its frames into native stacks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..process.scan import pids_mapping
from ..python.tracker import PythonTracker

if TYPE_CHECKING:
    from ..bpf.sampler import Sampler
    from ..process.registry import ProcessRegistry
    from .options import SessionOptions

# A mapping of CPython: libpython3.X[t][d].so..., or an executable python3, python3.X[t].
PYTHON_FILES = re.compile(rb"/(?:libpython3\.\d+[td]*\.so[^/\n]*|python3(?:\.\d+)?t?)$", re.M)


def start_python(
    options: SessionOptions, sampler: Sampler, registry: ProcessRegistry
) -> PythonTracker | None:
    """A started tracker for ``sampler``'s walk (None when it walks no Python frames). With
    target pids, their interpreters are looked for at their first sight (the session's); for
    the whole machine or a cgroup, now, in every process that may run CPython."""
    if sampler.python_maps is None or sampler.python_stacks is None:
        return None
    mode = options.sampling.python
    tracker = PythonTracker(
        sampler.python_maps,
        sampler.python_stacks,
        registry,
        mode,
        report=options.targets.pids if mode == "on" else (),
    )
    registry.add_listener(tracker.forget)
    if not options.targets.pids:
        for pid in pids_mapping(PYTHON_FILES):
            tracker.add_process(pid)
    tracker.start_upkeep()
    return tracker
