"""Print process events as they happen: ``python -m profiler.process.events [--threads]``.

One line per event (``fork``, ``exec``, ``exit``, ``overrun``) with the kernel's timestamp, for
checking what the profiler will see on a machine. Needs root on kernels before 6.6.
"""

from __future__ import annotations

import argparse
import sys

from .watcher import ProcessEvents, ProcessEventsError
from .wire import ExecEvent, ExitEvent, ForkEvent, ProcEvent


def format_event(event: ProcEvent) -> str:
    """One line for ``event``."""
    if isinstance(event, ForkEvent):
        kind = "thread" if event.is_thread else "fork"
        return (
            f"{event.timestamp_ns / 1e9:.6f} {kind:<7} parent {event.parent_tgid} "
            f"-> child {event.child_tgid}" + (f" tid {event.child_tid}" if event.is_thread else "")
        )
    if isinstance(event, ExecEvent):
        return f"{event.timestamp_ns / 1e9:.6f} exec    {event.tgid}"
    if isinstance(event, ExitEvent):
        how = f"status {event.status}" if event.signal is None else f"signal {event.signal}"
        what = f"{event.tgid} tid {event.tid}" if event.is_thread else str(event.tgid)
        return f"{event.timestamp_ns / 1e9:.6f} exit    {what} {how}"
    return f"overrun #{event.count}: events were lost"


def main(argv: list[str] | None = None) -> int:
    """Print events until interrupted or ``--count`` events were printed."""
    parser = argparse.ArgumentParser(prog="python -m profiler.process.events", description=__doc__)
    parser.add_argument("--threads", action="store_true", help="thread creations and exits too")
    parser.add_argument("--count", type=int, default=0, help="stop after N events (0: never)")
    args = parser.parse_args(argv)
    printed = 0
    try:
        with ProcessEvents(threads=args.threads) as events:
            while not args.count or printed < args.count:
                for event in events.read(timeout=None):
                    print(format_event(event), flush=True)
                    printed += 1
                    if args.count and printed >= args.count:
                        break
    except ProcessEventsError as exc:
        print(f"error: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
