"""``python -m profiler top``: a live view of the hottest functions, refreshed every second.

Each refresh takes the samples since the last one from the session (``take_profile``), tallies
them per function, process and library (:mod:`profiler.output.top_table`) and redraws. The
percentages are of the last ``--window`` seconds (5 by default) or, after ``w``, of the whole
run. On a terminal the screen is redrawn in place (:mod:`.terminal`); otherwise (output to a
file or a pipe) one table is printed per refresh, like ``top -b``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING

from .flags import add_stack_flags, add_target_flags, session_options
from .profile_command import EXIT_FAILED, EXIT_USAGE, wrap
from .program import program_name
from .signals import StopOnSignals

if TYPE_CHECKING:
    from ..session import Session
    from .top_screen import TopState

DEFAULT_WINDOW_S = 5.0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``top``."""
    from ..output.top_table import SORT_KEYS

    prog = f"{prog or program_name()} top"
    p = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} [flags]",
        description=wrap(
            "A live view of the hottest functions, refreshed every second: self % (the "
            "function itself), total % (with what it calls), the CPU seconds of each, the "
            "process and library the code belongs to, and [k] for kernel functions ([.] "
            "user). The percentages are of the samples of the last --window seconds (after "
            "the w key: of the whole run). Keys: q or Ctrl-C quits (the terminal is restored); "
            "s, t, f, p sort by self, total, function, process; w switches between the window "
            "and the whole run; space pauses the display (sampling goes on). Without a "
            "terminal it prints one table per refresh."
        ),
        epilog=f"""examples:
  # one process and its children
  {prog} -p 4242
  # the whole machine, sorted by total, over the last 10 s
  {prog} --sort total --window 10
  # a container, by its cgroup v2 directory
  {prog} -G /sys/fs/cgroup/system.slice/docker-0123abcd.scope""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_flags(p)
    g = p.add_argument_group("the view")
    g.add_argument(
        "--window",
        type=float,
        default=DEFAULT_WINDOW_S,
        metavar="SECONDS",
        help=f"percentages of the last SECONDS ({DEFAULT_WINDOW_S:g}); 0: of the whole run",
    )
    g.add_argument(
        "--sort",
        choices=SORT_KEYS,
        default="self",
        help="first sort: self, total, function or process (self)",
    )
    g.add_argument(
        "--refresh",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between refreshes, 0.2-60 (1)",
    )
    g.add_argument(
        "--duration",
        "-d",
        type=float,
        default=None,
        metavar="SECONDS",
        help="quit after this many seconds (default: at q, Ctrl-C or SIGTERM)",
    )
    g.add_argument(
        "--rows",
        type=int,
        default=25,
        metavar="N",
        help="rows per table without a terminal (with one: as many as fit) (25)",
    )
    add_stack_flags(p)
    return p


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"profiler top: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace, stop: StopOnSignals) -> int:
    """The live view as ``args`` say; returns the exit status."""
    from pybpf.errors import BPFError

    from ..output.title import describe_targets
    from ..session import OptionError, Session, UnknownProcessError
    from .top_screen import TopState

    if not 0.2 <= args.refresh <= 60:
        return _fail(f"--refresh must be 0.2-60 seconds, not {args.refresh:g}")
    if args.window < 0:
        return _fail(f"--window must be 0 or more seconds, not {args.window:g}")
    if args.duration is not None and args.duration <= 0:
        return _fail(f"--duration must be a positive number of seconds, not {args.duration:g}")
    try:
        options = session_options(args, drain_interval=args.refresh)
        session = Session(options)
    except (OptionError, UnknownProcessError) as exc:
        return _fail(str(exc))
    with session:
        if stop.stopped:
            return 128 + 2
        try:
            session.start()
        except (BPFError, OSError) as exc:
            return _fail(str(exc), EXIT_FAILED)
        title = describe_targets(args.pids, args.cgroup).text()
        state = TopState(
            title=title,
            freq=args.freq,
            window_s=args.window,
            sort=args.sort,
            cumulative=args.window == 0,
        )
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        loop = _interactive if interactive else _batch
        loop(session, state, args, stop)
    return 0


class _Refresher:
    """Takes each interval's samples from the session into the window of tallies."""

    def __init__(self, session: Session, state: TopState, window_s: float) -> None:
        from ..output.top_table import TallyWindow

        self.session = session
        self.state = state
        self.window = TallyWindow(window_s or float("inf"))
        self.lost = 0

    def take(self) -> None:
        """The samples since the last take, tallied."""
        from ..output.pprof import COUNT_INDEX
        from ..output.top_table import Tally

        profile = self.session.take_profile()
        self.lost = profile.kernel_stats.lost
        self.window.add(Tally.of(profile.to_pprof(), COUNT_INDEX), profile.duration)

    def screen(self, width: int, height: int) -> list[str]:
        """The lines to show now."""
        from .top_screen import render

        if self.state.cumulative:
            tally, seconds = self.window.cumulative, self.window.cumulative_seconds
        else:
            tally, seconds = self.window.window()
        return render(self.state, tally, seconds, width, height, self.lost)


def _interactive(
    session: Session, state: TopState, args: argparse.Namespace, stop: StopOnSignals
) -> None:
    """Full screen, redrawn every refresh and after each key, until q/Ctrl-C/SIGTERM."""
    from .terminal import FullScreen

    refresher = _Refresher(session, state, args.window)
    end = time.monotonic() + args.duration if args.duration else None
    with FullScreen(sys.stdin.fileno(), sys.stdout.fileno()) as screen:
        screen.draw(refresher.screen(*screen.size()))
        next_refresh = time.monotonic() + args.refresh
        while not stop.stopped:
            now = time.monotonic()
            if end is not None and now >= end:
                break
            if now >= next_refresh:
                refresher.take()
                next_refresh = max(next_refresh + args.refresh, time.monotonic() + 0.1)
                if not state.paused:
                    screen.draw(refresher.screen(*screen.size()))
                continue
            # Wait for a key, at most until the next refresh (and a tenth of a second, so a
            # SIGTERM is seen soon).
            key = screen.read_key(min(next_refresh - now, 0.1))
            if key is None:
                continue
            # Keys typed fast arrive together; an escape sequence (an arrow key) is one key.
            keys = [key] if key.startswith("\x1b") else list(key)
            if not all(state.press(k) for k in keys):
                break
            screen.draw(refresher.screen(*screen.size()))


def _batch(
    session: Session, state: TopState, args: argparse.Namespace, stop: StopOnSignals
) -> None:
    """One table per refresh on standard output (no terminal), until --duration or a signal."""
    refresher = _Refresher(session, state, args.window)
    end = time.monotonic() + args.duration if args.duration else None
    next_refresh = time.monotonic() + args.refresh
    while not stop.stopped:
        now = time.monotonic()
        if end is not None and now >= end:
            break
        if now < next_refresh:
            stop.wait(min(next_refresh, end or next_refresh) - now)
            continue
        refresher.take()
        next_refresh += args.refresh
        lines = refresher.screen(10_000, args.rows + 6)
        sys.stdout.write("\n".join(lines[:-2]) + "\n\n")  # without the keys line
        sys.stdout.flush()


def main(argv: list[str], stop: StopOnSignals) -> int:
    """Entry point of ``python -m profiler top``."""
    args = build_parser().parse_args(argv)
    if os.geteuid() != 0:
        print(
            "profiler: warning: not root; loading BPF programs needs CAP_BPF and CAP_PERFMON "
            "(and kernel.perf_event_paranoid <= 2)",
            file=sys.stderr,
        )
    return run(args, stop)
