"""``python -m profiler record [flags] -- CMD ARGS...``: run a command under the profiler.

Sampling is on before the command runs its first instruction: the command is forked held
(:class:`~profiler.process.launch.HeldCommand`), the session starts with it as its target, then
the command is let exec. Its children are followed. The run ends when the command exits, and
its exit status is ours (128+N after signal N), as with ``perf record`` and ``time``.

Signals: a Ctrl-C at the terminal reaches the command too (it is in our process group), so the
profiler keeps sampling while the command handles it. If the command is still running
:data:`GRACE_S` later (the signal was sent to the profiler alone), it is sent the signal;
SIGTERM is passed on at once. Another Ctrl-C after that kills the command (SIGKILL). In every
case the profile is written once the command has exited.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import sys
import time

from .flags import (
    add_off_cpu_flags,
    add_output_flags,
    add_stack_flags,
    add_target_flags,
    session_options,
)
from .profile_command import EXIT_FAILED, EXIT_USAGE, UsageError, check_output, wrap
from .program import program_name
from .signals import StopOnSignals

GRACE_S = 2.0  # after a SIGINT, how long the command may take to exit before we pass it on


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``record`` (its flags; the command follows ``--``)."""
    prog = f"{prog or program_name()} record"
    p = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} [flags] -- CMD [ARGS...]",
        description=wrap(
            "Run CMD and profile it and every child it starts, from its first instruction "
            "until it exits; then write the profile. The exit status is the command's (128+N "
            "when a signal N ended it). Ctrl-C reaches the command as usual and the profile "
            "is written when it has exited; a second Ctrl-C kills it."
        ),
        epilog=f"""examples:
  # a flame graph page of a build
  {prog} -o build.html -- make -j2
  # at 997 Hz, into pprof; then look at it
  {prog} -F 997 -o test.pb.gz -- python3 -m pytest tests/
  go tool pprof -http=: test.pb.gz""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_flags(p, pids=False)
    add_output_flags(p, duration=False)
    add_off_cpu_flags(p)
    add_stack_flags(p, spawn_links=False)  # its probes attach to a running program
    return p


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """The flags before ``--`` and the command after it (without ``--``: flags up to the first
    word that is not one, as ``perf record CMD`` takes it)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    flags_taking_values = {
        a
        for action in build_parser("x")._actions
        if action.nargs != 0 and action.option_strings
        for a in action.option_strings
    }
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        word = argv[i]
        i += 2 if word in flags_taking_values else 1
    return argv[:i], argv[i:]


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"profiler record: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace, command: list[str], stop: StopOnSignals) -> int:
    """Run ``command`` under the profiler as ``args`` say; returns the exit status."""
    from pybpf.errors import BPFError

    from ..output.files import AtomicFile
    from ..output.title import ProfileTitle
    from ..process.launch import CommandError, HeldCommand
    from ..session import OptionError, Session, SessionOptions, Targets, UnknownProcessError
    from .profile_command import write_and_report

    try:
        fmt = check_output(args)
        # The flags are checked before the fork (the real target is the child's pid).
        session_options(args, targets=Targets(pids=(1,)))
    except (OptionError, UsageError) as exc:
        return _fail(str(exc))
    try:
        out = AtomicFile(args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    with out:
        try:
            held = HeldCommand(command)
        except CommandError as exc:
            return _fail(f"{exc.filename}: {exc.strerror}", exc.exit_status)
        with held:
            options: SessionOptions = session_options(args, targets=Targets(pids=(held.pid,)))
            try:
                session = Session(options)
            except (UnknownProcessError, OptionError) as exc:
                return _fail(str(exc))
            with session:
                if stop.stopped:
                    return _fail("interrupted before the command started; nothing run", 128 + 2)
                try:
                    session.start()
                except (BPFError, OSError) as exc:
                    return _fail(str(exc), EXIT_FAILED)
                title = ProfileTitle(
                    command=shlex.join(command), pids=(held.pid,), host=socket.gethostname()
                )
                if not args.quiet:
                    print(
                        f"Recording {shlex.join(command)} (pid {held.pid}) at {args.freq} Hz...",
                        file=sys.stderr,
                    )
                try:
                    held.release()
                except CommandError as exc:
                    return _fail(f"{exc.filename}: {exc.strerror}", exc.exit_status)
                status = wait_for_command(held, stop)
                profile = session.stop()
        profile.title = title
        if status and not args.quiet:
            print(f"{command[0]} exited with status {status}.", file=sys.stderr)
        write_and_report(profile, out, args, fmt)
    return status


def wait_for_command(held: object, stop: StopOnSignals) -> int:
    """Wait for the command to exit, passing signals on (see the module docstring); its exit
    status."""
    seen = 0  # signals handled so far
    forwarded = False
    forward_at: float | None = None  # when a SIGINT is passed on if the command still runs
    while True:
        # Blocked until the command exits or a signal arrives (the signal pipe), or until a
        # SIGINT's grace period ends: no polling.
        timeout = None if forward_at is None or forwarded else forward_at - time.monotonic()
        status = held.wait(timeout, wake_fd=stop.fileno())  # type: ignore[attr-defined]
        if status is not None:
            return status
        stop.clear_wakeup()
        if stop.received > seen:
            seen = stop.received
            signum = stop.last or signal.SIGINT
            if forwarded:
                held.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
            elif signum == signal.SIGINT:
                forward_at = forward_at or time.monotonic() + GRACE_S
                if seen > 1:  # a second Ctrl-C within the grace period
                    held.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
            else:
                held.send_signal(signum)  # type: ignore[attr-defined]
                forwarded = True
        if forward_at is not None and not forwarded and time.monotonic() >= forward_at:
            held.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
            forwarded = True


def main(argv: list[str], stop: StopOnSignals) -> int:
    """Entry point of ``python -m profiler record``."""
    prog = program_name()
    flags, command = split_command(argv)
    args = build_parser(prog).parse_args(flags)
    if not command:
        build_parser(prog).print_usage(sys.stderr)
        return _fail("no command to run: put it after --, e.g. record -o out.html -- make")
    if os.geteuid() != 0:
        print(
            "profiler: warning: not root; loading BPF programs needs CAP_BPF and CAP_PERFMON "
            "(and kernel.perf_event_paranoid <= 2)",
            file=sys.stderr,
        )
    return run(args, command, stop)
