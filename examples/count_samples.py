"""Count cpu-clock samples per CPU with a BPF program built in Python (needs root).

    sudo python3 examples/count_samples.py --freq 99 --seconds 3

A perf_event program, assembled with the pybpf DSL, runs on every sample of a software
cpu-clock event opened on each online CPU and adds one to a per-CPU array (key 0, a u64 per
CPU: the map keeps one slot per CPU, so the program needs no CPU id and no atomics). After
``--seconds`` the program is detached and one JSON line is printed:

    {"freq": 99, "seconds": 3.0, "cpus": 2, "per_cpu": [297, 297], "total": 594}

cpu-clock is a timer: each CPU is sampled ``freq`` times a second whether busy or idle, so
``total`` is close to ``freq * seconds * cpus``. Only pybpf's public API is used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pybpf.asm import DW, R0, R1, Assembler
from pybpf.attach import attach_perf_events
from pybpf.errors import MissingPrivilegesError
from pybpf.maps import MapSpec, MapType
from pybpf.perf_event import online_cpus, open_cpu_clock_on_cpus
from pybpf.programs import ProgramSpec, ProgramType
from pybpf.structs import u64


def sample_counter(counts: object) -> Assembler:
    """The BPF program: ``counts[0] += 1`` in this CPU's slot of the per-CPU array."""
    a = Assembler()
    a.zero_stack(-4, 4, comment="u32 key = 0")
    a.lookup_or_jump(counts, -4, "out", comment="r0 = &counts[0] (this CPU's slot)")
    a.ldx(DW, R1, R0, 0)
    a.add(R1, 1, comment="no other program touches this CPU's slot: a plain add is enough")
    a.stx(DW, R0, 0, R1)
    a.label("out")
    a.ret(0, comment="the return value of a perf_event program is ignored")
    return a


def count_samples(freq: int, seconds: float, method: str = "auto") -> dict:
    """Sample every online CPU at ``freq`` Hz for ``seconds``; return the counts per CPU."""
    cpus = online_cpus()
    counts_spec = MapSpec("counts", MapType.PERCPU_ARRAY, key_size=4, value_struct=u64)
    with counts_spec.create() as counts:
        program = ProgramSpec("count_samples", ProgramType.PERF_EVENT, sample_counter(counts))
        with (
            program.load() as prog,
            open_cpu_clock_on_cpus(cpus=cpus, freq=freq, disabled=True) as events,
            attach_perf_events(prog, events, method=method),  # attaching enables the events
        ):
            time.sleep(seconds)
        # Detached and closed: the counts are final. A per-CPU lookup returns one value per
        # possible CPU, indexed by CPU number.
        per_possible_cpu = counts.lookup(0)
    per_cpu = [per_possible_cpu[cpu] for cpu in cpus]
    return {
        "freq": freq,
        "seconds": seconds,
        "cpus": len(cpus),
        "per_cpu": per_cpu,
        "total": sum(per_cpu),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, count, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--freq", type=int, default=99, help="samples per second per CPU")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to count")
    parser.add_argument(
        "--attach",
        choices=("auto", "link", "ioctl"),
        default="auto",
        help="BPF_LINK_CREATE, PERF_EVENT_IOC_SET_BPF, or whichever the kernel has",
    )
    args = parser.parse_args(argv)
    try:
        result = count_samples(args.freq, args.seconds, args.attach)
    except MissingPrivilegesError as exc:
        print(f"count_samples: {exc.strerror}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
