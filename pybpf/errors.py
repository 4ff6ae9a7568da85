"""The errors pybpf raises: every one keeps the kernel's errno and says what to do about it.

- :class:`BPFError` (an :class:`OSError`): a ``bpf(2)`` command failed; ``.errno`` is the kernel's.
- :class:`VerifierError`: the verifier rejected a program; carries the whole log and our own
  listing around the instruction the log points at.
- :class:`MissingPrivilegesError`: EPERM; names the capabilities and sysctls involved.
- :class:`FeatureMissingError`: the running kernel lacks a feature; names the version that has it.
"""

from __future__ import annotations

import errno as errno_codes
import os
import re

# Linux's internal ENOTSUPP (524) leaks to user space from some BPF paths (e.g. test_run).
ENOTSUPP = 524


def _strerror(err: int) -> str:
    if err == ENOTSUPP:
        return "Operation not supported"
    return os.strerror(err)


class BPFError(OSError):
    """A ``bpf(2)`` command failed. ``.errno`` is the kernel's errno, ``.strerror`` our message."""

    def __init__(self, err: int, message: str, *, command: str = "") -> None:
        super().__init__(err, message)
        self.command = command

    def __str__(self) -> str:
        name = errno_codes.errorcode.get(self.errno, "ENOTSUPP" if self.errno == ENOTSUPP else "")
        return f"[{name or 'errno'} {self.errno}] {self.strerror}"


class MissingPrivilegesError(BPFError, PermissionError):
    """EPERM (or EACCES) from the kernel: the process lacks the capabilities BPF needs.

    ``MissingPrivilegesError(what)`` builds the message from :func:`privileges_hint`;
    ``MissingPrivilegesError(errno, message)`` keeps a message the caller wrote (perf events).
    """

    def __init__(self, *args: object, command: str = "", perf_events: bool = False) -> None:
        if len(args) == 2 and isinstance(args[0], int):
            err, message = args[0], str(args[1])
        else:
            what = str(args[0]) if args else "bpf"
            err, message = errno_codes.EPERM, privileges_hint(what, perf_events)
        super().__init__(err, message, command=command)


class VerifierError(BPFError):
    """The verifier rejected a program.

    ``.log`` is the verifier's whole log, ``.insn_index`` the instruction slot it complained
    about (or ``None``), ``.listing`` our listing around that slot, ``.complaint`` the verifier's
    last words (e.g. ``"R2 !read_ok"``).
    """

    def __init__(
        self,
        err: int,
        program: str,
        log: str,
        *,
        listing: str = "",
        insn_index: int | None = None,
    ) -> None:
        self.log = log
        self.listing = listing
        self.insn_index = insn_index
        self.complaint = verifier_complaint(log)
        where = f" at instruction {insn_index}" if insn_index is not None else ""
        message = f"verifier rejected program {program!r}{where}: {self.complaint}"
        if listing:
            message += f"\nour listing around instruction {insn_index}:\n{listing}"
        message += f"\nverifier log (tail):\n{_tail(log, 20)}"
        super().__init__(err, message, command="BPF_PROG_LOAD")


class FeatureMissingError(BPFError):
    """The running kernel lacks ``feature``; ``since`` is the first kernel version that has it."""

    def __init__(self, feature: str, since: str | None = None, *, detail: str = "") -> None:
        self.feature = feature
        self.since = since
        release = os.uname().release
        message = f"{feature} is not supported by this kernel ({release})"
        if since:
            message += f"; it needs Linux {since} or newer"
        if detail:
            message += f" ({detail})"
        super().__init__(errno_codes.EOPNOTSUPP, message, command="feature probe")

    @property
    def since_kernel(self) -> str | None:
        """Alias of :attr:`since` (the name used in docs/contracts.md)."""
        return self.since


def privileges_hint(what: str, perf_events: bool = False) -> str:
    """The message for EPERM: which capabilities and sysctls to check."""
    from .syscall import kernel_release

    if kernel_release() >= (5, 8):
        caps = "CAP_BPF (and CAP_PERFMON for tracing programs and perf events)"
    else:
        caps = "CAP_SYS_ADMIN (kernels before 5.8 have no CAP_BPF/CAP_PERFMON)"
    hint = (
        f"{what}: operation not permitted: run as root or grant {caps}; unprivileged BPF is "
        f"governed by kernel.unprivileged_bpf_disabled{_sysctl_value('unprivileged_bpf_disabled')}"
    )
    if perf_events:
        hint += f", perf events by kernel.perf_event_paranoid{_sysctl_value('perf_event_paranoid')}"
    if kernel_release() < (5, 11):
        hint += "; kernels before 5.11 also charge BPF memory to RLIMIT_MEMLOCK"
    return hint


def _sysctl_value(name: str) -> str:
    try:
        with open(f"/proc/sys/kernel/{name}") as f:
            return f" (now {f.read().strip()})"
    except OSError:
        return ""


def from_oserror(exc: OSError, command: str, what: str = "") -> BPFError:
    """Translate an ``OSError`` from the syscall seam into the matching :class:`BPFError`."""
    err = exc.errno or errno_codes.EIO
    what = what or command
    if err == errno_codes.EPERM:
        return MissingPrivilegesError(what, command=command)
    explanation = _EXPLANATIONS.get(err, "")
    message = f"{what}: {_strerror(err)}"
    if explanation:
        message += f" ({explanation})"
    return BPFError(err, message, command=command)


_EXPLANATIONS = {
    errno_codes.E2BIG: "the attr carries bytes this kernel does not know, or the object is too "
    "large for it (program too many instructions, map too big)",
    errno_codes.EINVAL: "the kernel rejected an argument: check the map/program type, sizes, "
    "flags and attach type against what this kernel version supports",
    errno_codes.EBADF: "a file descriptor passed to the kernel is not open or not a BPF object",
    errno_codes.ENOMEM: "the kernel could not allocate memory (on kernels before 5.11, "
    "RLIMIT_MEMLOCK may be too low)",
    errno_codes.ENOSPC: "a buffer is too small, or the map is full",
    errno_codes.EEXIST: "the key exists (BPF_NOEXIST)",
    errno_codes.ENOENT: "no such key",
    errno_codes.EOPNOTSUPP: "not supported for this object type by this kernel",
    ENOTSUPP: "not supported for this object type by this kernel",
}

# A verifier log line for an instruction: "12: (bf) r1 = r6" (the index counts slots).
_INSN_LINE = re.compile(r"^(\d+): \(([0-9a-f]{2})\)", re.MULTILINE)


def offending_instruction(log: str) -> int | None:
    """The slot index of the last instruction the verifier log shows (where it stopped)."""
    found = _INSN_LINE.findall(log)
    return int(found[-1][0]) if found else None


def verifier_complaint(log: str) -> str:
    """The verifier's complaint: the log lines after the last instruction line, minus stats."""
    lines = log.splitlines()
    last_insn = None
    for i, line in enumerate(lines):
        if _INSN_LINE.match(line):
            last_insn = i
    tail = lines[last_insn + 1 :] if last_insn is not None else lines
    noise = ("processed ", "verification time", "stack depth", "max_states_per_insn")
    useful = [ln.strip() for ln in tail if ln.strip() and not ln.startswith(noise)]
    if useful:
        return "; ".join(useful[-3:])
    remaining = [ln.strip() for ln in lines if ln.strip() and not ln.startswith(noise)]
    return remaining[-1] if remaining else "(empty verifier log)"


def _tail(text: str, n: int) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-n:])
