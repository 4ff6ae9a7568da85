"""Large synthetic profiles with a known shape, for timing the viewers (not for correctness)."""

from __future__ import annotations

import random

from pprof_encoder import Frame, Mapping, ProfileBuilder
from pprof_encoder.profile import Profile

PERIOD = 1_003_009  # ns, 997 Hz


def wide_profile(samples: int = 100_000, distinct: int = 100_000, seed: int = 1) -> Profile:
    """``samples`` samples over ``distinct`` stacks: 8 processes, 2 000 functions in 20 binaries,
    call chains 8 to 48 deep that share prefixes (as real programs do), a kernel tail on 1 in 5."""
    rng = random.Random(seed)
    binaries = [
        Mapping(0x400000 * (i + 1), 0x400000 * (i + 2), 0, f"/usr/lib/lib{i}.so") for i in range(20)
    ]
    kernel = Mapping(filename="[kernel.kallsyms]")
    functions = [
        Frame(
            f"ns{i % 37}::module{i % 11}::function_{i}",
            f"src/file{i % 50}.c",
            10 + i % 400,
            0x400000 * (i % 20 + 1) + 16 * i,
            binaries[i % 20],
        )
        for i in range(2000)
    ]
    kfuncs = [Frame(f"kfunc_{i}", address=0xFFFF0000 + i, mapping=kernel) for i in range(200)]
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        PERIOD,
        default_sample_type="cpu",
    )
    # Stacks grow from a few hundred trunks, so the tree is wide at the top and bushy below.
    trunks = [[rng.choice(functions) for _ in range(rng.randint(3, 8))] for _ in range(300)]
    per_stack = max(1, samples // distinct)
    left = samples
    for i in range(distinct):
        stack = list(rng.choice(trunks))
        stack += [rng.choice(functions) for _ in range(rng.randint(5, 40))]
        if i % 5 == 0:
            stack += [rng.choice(kfuncs) for _ in range(rng.randint(3, 8))]
        n = per_stack if i < distinct - 1 else max(left, 1)
        left -= n
        pid = 1000 + i % 8
        b.add_sample(
            stack[::-1],
            [n, n * PERIOD],
            {
                "pid": pid,
                "tid": pid + i % 4,
                "process_name": f"proc{i % 8}",
                "thread_name": f"worker-{i % 4}",
            },
        )
    return b.build()


def callgraph_profile(samples: int = 100_000, seed: int = 2) -> Profile:
    """``samples`` single samples walked down a random call graph: 3 000 functions in 30
    binaries, each calling 1 to 4 others, the first of them 85 % of the time (hot paths, as in
    programs); 8 processes of 4 threads; walks of 6 to 60 calls; a kernel tail (syscall entry and
    2 to 6 more) on 1 sample in 4."""
    rng = random.Random(seed)
    binaries = [
        Mapping(0x400000 * (i + 1), 0x400000 * (i + 2), 0, f"/usr/lib/lib{i}.so") for i in range(30)
    ]
    kernel = Mapping(filename="[kernel.kallsyms]")
    functions = [
        Frame(
            f"crate{i % 23}::module{i % 13}::function_{i}",
            f"src/file{i % 90}.rs",
            10 + i % 700,
            0x400000 * (i % 30 + 1) + 16 * i,
            binaries[i % 30],
        )
        for i in range(3000)
    ]
    callees = [rng.sample(range(3000), rng.randint(1, 4)) for _ in range(3000)]
    kfuncs = [Frame(f"kfunc_{i}", address=0xFFFF0000 + i, mapping=kernel) for i in range(300)]
    entry = Frame("entry_SYSCALL_64", address=0xFFFFF000, mapping=kernel)
    roots = rng.sample(range(3000), 8)
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        PERIOD,
        default_sample_type="cpu",
    )
    for i in range(samples):
        proc = i % 8
        f = roots[proc]
        stack = [functions[f]]
        for _ in range(rng.randint(6, 60)):
            f = callees[f][0] if rng.random() < 0.85 else rng.choice(callees[f])
            stack.append(functions[f])
        if rng.random() < 0.25:
            stack.append(entry)
            stack += rng.sample(kfuncs, rng.randint(2, 6))
        tid = 1000 + proc * 10 + rng.randrange(4)
        b.add_sample(
            stack[::-1],
            [1, PERIOD],
            {
                "pid": 1000 + proc * 10,
                "tid": tid,
                "process_name": f"proc{proc}",
                "thread_name": f"worker-{tid % 4}",
            },
        )
    return b.build()
