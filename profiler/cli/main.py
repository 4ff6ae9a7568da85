"""``python -m profiler [record|top|agent] ...``: the commands, with signals handled from the first
line."""

from __future__ import annotations

import sys

from .signals import StopOnSignals


def main(argv: list[str] | None = None, stop: StopOnSignals | None = None) -> int:
    """Run the command ``argv`` names (the one-shot profiler unless it starts with ``record``,
    ``top`` or ``agent``).

    ``stop``: signal handling already installed by the caller (``python -m profiler`` installs
    it before its imports); installed here otherwise.
    """
    if stop is None:
        with StopOnSignals() as stop:
            return _dispatch(sys.argv[1:] if argv is None else argv, stop)
    return _dispatch(sys.argv[1:] if argv is None else argv, stop)


def _dispatch(argv: list[str], stop: StopOnSignals) -> int:
    if argv[:1] == ["agent"]:
        from .agent_command import main as agent_main

        return agent_main(argv[1:], stop)
    if argv[:1] == ["record"]:
        from .record_command import main as record_main

        return record_main(argv[1:], stop)
    if argv[:1] == ["top"]:
        from .top_command import main as top_main

        return top_main(argv[1:], stop)
    from .profile_command import main as profile_main

    return profile_main(argv, stop)
