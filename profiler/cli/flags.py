"""The flags that choose what and how to profile, shared by the one-shot profiler and the agent.

Defaults and ranges come from the option values (:mod:`profiler.session.options`,
:mod:`profiler.bpf.options`): they are stated there once. :func:`session_options` is the one way
from parsed flags to a :class:`~profiler.session.options.SessionOptions`.
"""

from __future__ import annotations

import argparse

from ..bpf.offcpu_options import OffCpuOptions
from ..bpf.options import MAX_FREQ, PYTHON_MODES, OptionError, SamplingOptions
from ..session.options import MODES, VIEWS, FrameOptions, SessionOptions, Targets

S = SamplingOptions  # defaults are its class attributes
F = FrameOptions
OFF = OffCpuOptions


def add_target_flags(
    p: argparse.ArgumentParser,
    *,
    pids: bool = True,
    pid_help: str = "profile this process and its children (repeatable); "
    "default: the whole machine",
    freq_env: str = "",
) -> None:
    """--pid, --cgroup and the sampling rate: the flags everyone uses (perf's -p, -G, -F).

    ``pids=False``: only the rate (``record`` profiles the command it runs); ``freq_env``: the
    environment variable the rate's default comes from, named in the help."""
    g = p.add_argument_group("what to profile" if pids else "sampling")
    if pids:
        g.add_argument(
            "--pid",
            "-p",
            type=int,
            action="append",
            default=[],
            dest="pids",
            metavar="PID",
            help=pid_help,
        )
        g.add_argument(
            "--cgroup",
            "-G",
            metavar="DIR",
            help="profile only this cgroup v2 directory, e.g. a container's "
            "/sys/fs/cgroup/system.slice/docker-ID.scope",
        )
    env = f"; env {freq_env}" if freq_env else ""
    g.add_argument(
        "--freq",
        "-F",
        type=int,
        default=S.freq,
        metavar="HZ",
        help=f"samples per second per CPU, 1-{MAX_FREQ}{env} ({S.freq})",
    )


def add_output_flags(p: argparse.ArgumentParser, *, duration: bool) -> None:
    """Where the profile goes and what is printed (and, with ``duration``, how long to run)."""
    from ..output.formats import FORMATS

    g = p.add_argument_group("how long, and where to" if duration else "where to")
    if duration:
        g.add_argument(
            "--duration",
            "-d",
            type=float,
            default=None,
            metavar="SECONDS",
            help="seconds to profile at most (default: until Ctrl-C or SIGTERM; a --pid run "
            "also ends when its processes and their children have all exited)",
        )
    g.add_argument(
        "--output",
        "-o",
        default="profile.pb.gz",
        metavar="FILE",
        help="output file; its name chooses the format (profile.pb.gz)",
    )
    g.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default=None,
        metavar="FORMAT",
        help=f"{'|'.join(FORMATS)} (default: from the file name: .pb.gz pprof, .folded, "
        ".svg, .html, .speedscope.json, a name with 'otlp'; another extension is an error)",
    )
    g.add_argument(
        "--top",
        type=int,
        default=15,
        metavar="N",
        help="functions to print at the end, 0 for none (15)",
    )
    g.add_argument("--quiet", "-q", action="store_true", help="print only errors")


def add_stack_flags(p: argparse.ArgumentParser, *, spawn_links: bool = True) -> None:
    """Flags of the stacks: kernel/user, unwinding, sizes, DWARF debug info, Python, async,
    Tokio (``spawn_links=False``: without --spawn-links, whose probes need a running program)."""
    g = p.add_argument_group("stacks")
    g.add_argument("--no-kernel", action="store_true", help="leave out kernel stacks")
    g.add_argument("--no-user", action="store_true", help="leave out user stacks")
    g.add_argument("--include-idle", action="store_true", help="count the idle task too")
    g.add_argument(
        "--stack-map-size",
        type=int,
        metavar="N",
        default=S.stack_map_size,
        help=f"entries of the stack-trace map ({S.stack_map_size})",
    )
    g.add_argument(
        "--max-stack-depth",
        type=int,
        metavar="N",
        default=S.max_stack_depth,
        help=f"frames per stack, 1-{S.max_stack_depth} ({S.max_stack_depth})",
    )
    g.add_argument(
        "--debug-info",
        choices=MODES,
        default=F.debug_info,
        help="DWARF file:line and inlined frames (auto: for chosen processes, from their own "
        "binaries; on: also from separate debug files, and for the whole machine)",
    )
    u = p.add_argument_group("unwinding without frame pointers")
    u.add_argument(
        "--unwind",
        choices=("auto", "fp", "dwarf"),
        default=S.unwind,
        help="user stacks by frame pointers (fp), by DWARF CFI over a copied stack (dwarf), "
        f"or per process, as its binaries need (auto); default {S.unwind}",
    )
    u.add_argument(
        "--stack-copy-size",
        type=int,
        metavar="BYTES",
        default=S.stack_copy_size,
        help=f"bytes of user stack copied per DWARF sample, a power of two ({S.stack_copy_size})",
    )
    py = p.add_argument_group("Python")
    py.add_argument(
        "--python",
        choices=PYTHON_MODES,
        default=S.python,
        help="CPython functions, files and lines in the stacks, walked in the kernel (auto: in "
        "every process running CPython 3.11+; on: also say why a process gets none; off: "
        f"native frames only); default {S.python}",
    )
    a = p.add_argument_group("async stacks (Rust Tokio)")
    a.add_argument(
        "--async-stacks",
        choices=MODES,
        default=F.async_stacks,
        help="logical async stacks (auto: where Tokio frames are seen)",
    )
    if spawn_links:
        a.add_argument(
            "--spawn-links",
            action="store_true",
            help="show under each spawned task the stack that spawned it (uprobes; needs --pid)",
        )


def session_options(args: argparse.Namespace, **overrides: object) -> SessionOptions:
    """The :class:`SessionOptions` of parsed flags (raises ``OptionError`` with one line).

    ``overrides``: other SessionOptions fields, e.g. ``targets`` for a parser without --pid."""
    if "targets" not in overrides:
        overrides["targets"] = Targets(pids=tuple(args.pids), cgroup=args.cgroup)
    return SessionOptions(
        sampling=SamplingOptions(
            freq=args.freq,
            user_stacks=not args.no_user,
            kernel_stacks=not args.no_kernel,
            include_idle=args.include_idle,
            stack_map_size=args.stack_map_size,
            max_stack_depth=args.max_stack_depth,
            unwind=args.unwind,
            stack_copy_size=args.stack_copy_size,
            python=args.python,
        ),
        frames=FrameOptions(
            debug_info=args.debug_info,
            async_stacks=args.async_stacks,
            spawn_links=getattr(args, "spawn_links", False),
        ),
        off_cpu=off_cpu_options(args),
        view=_view(args),
        **overrides,  # type: ignore[arg-type]
    )


# -- off-CPU time ------------------------------------------------------------------------------


def parse_duration_ns(text: str) -> int:
    """``"500us"``, ``"2ms"``, ``"1s"``, ``"750ns"`` or a bare number of microseconds -> ns."""
    text = text.strip().lower()
    units = (("ns", 1), ("us", 10**3), ("µs", 10**3), ("ms", 10**6), ("s", 10**9))
    number, scale = text, 10**3
    for suffix, unit_ns in units:
        if text.endswith(suffix):
            number, scale = text[: -len(suffix)], unit_ns
            break
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 500us, 2ms, 1s)") from None
    if not value >= 0:  # also NaN
        raise ValueError(f"a duration cannot be negative: {text!r}")
    return round(value * scale)


def _duration(text: str) -> int:
    try:
        return parse_duration_ns(text)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_off_cpu_flags(p: argparse.ArgumentParser) -> None:
    """--off-cpu, --wall, --off-cpu-min, --off-cpu-sample, --sample-type."""
    g = p.add_argument_group("off-CPU time: where threads wait")
    g.add_argument(
        "--off-cpu",
        action="store_true",
        help="also record where threads wait (off-CPU time from context switches)",
    )
    g.add_argument(
        "--wall",
        action="store_true",
        help="--off-cpu, shown as wall-clock time (CPU + off-CPU) by default",
    )
    g.add_argument(
        "--off-cpu-min",
        type=_duration,
        default=OFF.min_ns,
        metavar="DURATION",
        help=f"shorter blocks are not counted, e.g. 10us, 1ms ({OFF.min_ns // 1000}us; "
        "what is dropped is reported)",
    )
    g.add_argument(
        "--off-cpu-sample",
        type=float,
        default=OFF.sample,
        metavar="P",
        help=f"remember each context switch with probability P; blocks weigh 1/P ({OFF.sample:g})",
    )
    g.add_argument(
        "--sample-type",
        choices=VIEWS[1:],
        default=None,
        help="what folded, SVG, HTML, speedscope and top show (default: wall with --wall, "
        "off_cpu with --off-cpu, else samples); pprof holds them all",
    )


def off_cpu_options(args: argparse.Namespace) -> OffCpuOptions | None:
    """The :class:`OffCpuOptions` of parsed flags (None without --off-cpu or --wall, or for a
    parser without :func:`add_off_cpu_flags`)."""
    if not hasattr(args, "off_cpu"):
        return None
    if not (args.off_cpu or args.wall):
        for flag, value, default in (
            ("--off-cpu-min", args.off_cpu_min, OFF.min_ns),
            ("--off-cpu-sample", args.off_cpu_sample, OFF.sample),
        ):
            if value != default:
                raise OptionError(f"{flag} needs --off-cpu (or --wall)")
        return None
    return OffCpuOptions(min_ns=args.off_cpu_min, sample=args.off_cpu_sample)


def _view(args: argparse.Namespace) -> str:
    """The sample type the profile shows (--sample-type, else what --wall or --off-cpu imply)."""
    if not hasattr(args, "sample_type"):
        return ""
    return args.sample_type or ("wall" if args.wall else "off_cpu" if args.off_cpu else "")
