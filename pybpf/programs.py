"""BPF programs: a :class:`ProgramSpec` (plain data) loads into a live :class:`Program`.

Loading first tries without a verifier log (cheap), and on failure loads again with a log,
growing the buffer on ENOSPC, so that a rejection raises :class:`~pybpf.errors.VerifierError`
with the whole log and our own listing around the instruction the verifier stopped at.
"""

from __future__ import annotations

import dataclasses
import enum
import errno as errno_codes
from collections.abc import Mapping
from typing import Any

from . import bpf_commands as cmds
from .bpf_attr import ffi
from .errors import (
    BPFError,
    MissingPrivilegesError,
    VerifierError,
    offending_instruction,
)
from .maps import validate_name
from .owned_fd import OwnedFd
from .syscall import raise_memlock_limit


class ProgramType(enum.IntEnum):
    """``enum bpf_prog_type`` (linux/bpf.h). Uprobes use ``KPROBE``."""

    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31


class AttachType(enum.IntEnum):
    """``enum bpf_attach_type`` (linux/bpf.h): ``expected_attach_type`` at load, link attach."""

    CGROUP_INET_INGRESS = 0
    CGROUP_INET_EGRESS = 1
    CGROUP_INET_SOCK_CREATE = 2
    CGROUP_SOCK_OPS = 3
    SK_SKB_STREAM_PARSER = 4
    SK_SKB_STREAM_VERDICT = 5
    CGROUP_DEVICE = 6
    SK_MSG_VERDICT = 7
    CGROUP_INET4_BIND = 8
    CGROUP_INET6_BIND = 9
    CGROUP_INET4_CONNECT = 10
    CGROUP_INET6_CONNECT = 11
    CGROUP_INET4_POST_BIND = 12
    CGROUP_INET6_POST_BIND = 13
    CGROUP_UDP4_SENDMSG = 14
    CGROUP_UDP6_SENDMSG = 15
    LIRC_MODE2 = 16
    FLOW_DISSECTOR = 17
    CGROUP_SYSCTL = 18
    CGROUP_UDP4_RECVMSG = 19
    CGROUP_UDP6_RECVMSG = 20
    CGROUP_GETSOCKOPT = 21
    CGROUP_SETSOCKOPT = 22
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    MODIFY_RETURN = 26
    LSM_MAC = 27
    TRACE_ITER = 28
    CGROUP_INET4_GETPEERNAME = 29
    CGROUP_INET6_GETPEERNAME = 30
    CGROUP_INET4_GETSOCKNAME = 31
    CGROUP_INET6_GETSOCKNAME = 32
    XDP_DEVMAP = 33
    CGROUP_INET_SOCK_RELEASE = 34
    XDP_CPUMAP = 35
    SK_LOOKUP = 36
    XDP = 37
    SK_SKB_VERDICT = 38
    SK_REUSEPORT_SELECT = 39
    SK_REUSEPORT_SELECT_OR_MIGRATE = 40
    PERF_EVENT = 41
    TRACE_KPROBE_MULTI = 42
    LSM_CGROUP = 43


#: ``BPF_PERF_EVENT``: the attach type of perf-event links (BPF_LINK_CREATE, 5.15+).
ATTACH_TYPE_PERF_EVENT = AttachType.PERF_EVENT

# Verifier log sizes: start small (most logs are short), grow 4x on ENOSPC up to the kernel's
# historical maximum (UINT_MAX >> 2 before 6.4; 16 MiB is plenty for anything we generate).
LOG_SIZE_START = 64 * 1024
LOG_SIZE_MAX = 16 * 1024 * 1024
# Verifications interrupted by a signal (EAGAIN) before the load gives up.
_EAGAIN_ATTEMPTS = 5
# Kernels that know the type but not a program's helpers or context accesses answer with these.
_REJECTION_ERRNOS = (errno_codes.EACCES, errno_codes.EINVAL, errno_codes.E2BIG)


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """What a program is, as plain data; :meth:`load` verifies and loads it.

    ``insns`` is an :class:`pybpf.asm.Assembler` (or anything with ``assemble(maps=...)``) or raw
    instruction bytes. ``maps`` names the maps the program references (name → :class:`Map` or
    fd). ``type`` is a :class:`ProgramType` or the kernel's numeric id for types not listed.
    """

    name: str
    type: ProgramType | int
    insns: Any
    license: str = "GPL"
    maps: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    expected_attach_type: AttachType | int = 0
    flags: int = 0
    kern_version: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", validate_name(self.name))

    def instructions(self) -> bytes:
        """The program's raw instructions (8 bytes a slot), map references resolved."""
        if isinstance(self.insns, bytes | bytearray):
            return bytes(self.insns)
        fds = {name: getattr(m, "fd", m) for name, m in self.maps.items()}
        return self.insns.assemble(maps=fds)

    def listing(self, around: int | None = None, context: int = 3) -> str:
        """Our listing of the program (the lines around slot ``around`` if given)."""
        if hasattr(self.insns, "listing"):
            if around is None:
                return self.insns.listing()
            return self.insns.listing(around=around, context=context)
        return raw_listing(self.instructions(), around, context)

    def load(self, log_level: int = 0) -> Program:
        """Verify and load the program; returns the live :class:`Program` (close it).

        Raises :class:`VerifierError` when the verifier rejects it, and
        :class:`MissingPrivilegesError` on EPERM. ``log_level`` > 0 asks for a log even on
        success (``Program.verifier_log``).
        """
        raise_memlock_limit()
        raw = self.instructions()
        if log_level == 0:
            try:
                return Program(self._load(raw), self, "")
            except MissingPrivilegesError:
                raise
            except BPFError as exc:
                if exc.errno not in _REJECTION_ERRNOS:
                    raise
        return self._load_with_log(raw, max(log_level, 1))

    def _load(self, raw: bytes, log_buf: object = None, log_size: int = 0, level: int = 0) -> int:
        # The verifier gives up with EAGAIN when a signal arrives while it works (a Ctrl-C
        # during start-up; the handler runs once the call returns): verify again, as libbpf
        # does, a bounded number of times.
        for _ in range(_EAGAIN_ATTEMPTS - 1):
            try:
                return self._load_once(raw, log_buf, log_size, level)
            except BPFError as exc:
                if exc.errno != errno_codes.EAGAIN:
                    raise
        return self._load_once(raw, log_buf, log_size, level)

    def _load_once(self, raw: bytes, log_buf: object, log_size: int, level: int) -> int:
        try:
            return cmds.prog_load(
                int(self.type),
                raw,
                self.license,
                name=self.name,
                log_buf=log_buf,
                log_size=log_size,
                log_level=level,
                expected_attach_type=self.expected_attach_type,
                prog_flags=self.flags,
                kern_version=self.kern_version,
            )
        except MissingPrivilegesError as exc:
            raise MissingPrivilegesError(
                f"load {self._type_name()} program {self.name!r}",
                command=exc.command,
                perf_events=self._is_tracing(),
            ) from None

    def _load_with_log(self, raw: bytes, level: int) -> Program:
        size = LOG_SIZE_START
        while True:
            log_buf = ffi.new("char[]", size)
            try:
                fd = self._load(raw, log_buf, size, level)
            except BPFError as exc:
                # ENOSPC: the log did not fit. Grow it and verify again (kernels >= 6.4 verify to
                # the end, keep the tail and answer ENOSPC even for a good program; older ones
                # stop verifying when the buffer fills). At the maximum, report what we have.
                log = ffi.string(log_buf).decode(errors="replace")
                if exc.errno == errno_codes.ENOSPC and size < LOG_SIZE_MAX:
                    size *= 4
                    continue
                raise self._rejection(exc, log, len(raw) // 8) from None
            return Program(fd, self, ffi.string(log_buf).decode(errors="replace"))

    def _rejection(self, exc: BPFError, log: str, n_insns: int) -> BPFError:
        if exc.errno == errno_codes.E2BIG and not log:
            return BPFError(
                exc.errno,
                f"load program {self.name!r}: too big ({n_insns} instructions; the limit is "
                "4096 before 5.2 and for unprivileged users, 1 million processed instructions "
                "since 5.2), or the attr carries fields this kernel does not know",
                command=exc.command,
            )
        if not log:
            if exc.errno == errno_codes.EINVAL:
                return BPFError(
                    exc.errno,
                    f"load {self._type_name()} program {self.name!r}: invalid argument and no "
                    "verifier log: this kernel may not know the program type, its expected "
                    f"attach type ({self.expected_attach_type}) or its flags ({self.flags:#x})",
                    command=exc.command,
                )
            return exc
        index = offending_instruction(log)
        try:
            listing = self.listing(around=index) if index is not None else ""
        except Exception as listing_error:  # the listing is a courtesy; never hide the log
            listing = f"(no listing: {listing_error})"
        return VerifierError(exc.errno, self.name, log, listing=listing, insn_index=index)

    def _type_name(self) -> str:
        try:
            return ProgramType(self.type).name
        except ValueError:
            return f"type-{int(self.type)}"

    def _is_tracing(self) -> bool:
        return self.type in (
            ProgramType.KPROBE,
            ProgramType.TRACEPOINT,
            ProgramType.PERF_EVENT,
            ProgramType.RAW_TRACEPOINT,
            ProgramType.TRACING,
        )


# Program types whose BPF_PROG_TEST_RUN takes a context only and rejects repeat != 0.
_RUN_ONCE_TYPES = (
    ProgramType.RAW_TRACEPOINT,
    ProgramType.RAW_TRACEPOINT_WRITABLE,
    ProgramType.SYSCALL,
)


@dataclasses.dataclass(frozen=True)
class TestRunResult:
    """The result of :meth:`Program.test_run`: ``retval`` (r0), ``data_out``, ``duration_ns``
    (the kernel's average per run) and ``ctx_out``."""

    retval: int
    data_out: bytes
    duration_ns: int
    ctx_out: bytes = b""


@dataclasses.dataclass(frozen=True)
class ProgramInfo:
    """What ``BPF_OBJ_GET_INFO_BY_FD`` says about a program (run_* need
    ``kernel.bpf_stats_enabled=1`` or :func:`pybpf.bpf_commands.enable_stats`)."""

    id: int
    name: str
    type: int
    tag: str
    run_time_ns: int
    run_cnt: int
    verified_insns: int
    xlated_prog_len: int
    jited_prog_len: int


class Program(OwnedFd):
    """A loaded BPF program. Owns its fd: close it (``close()`` or ``with``) exactly once."""

    KIND = "program"

    def __init__(self, fd: int, spec: ProgramSpec, verifier_log: str = "") -> None:
        self._fd = fd
        self.spec = spec
        self.name = spec.name
        self.verifier_log = verifier_log

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<Program {self.name!r} {self.spec._type_name()} {state}>"

    def test_run(
        self,
        data_in: bytes = b"",
        ctx_in: bytes = b"",
        repeat: int = 1,
        *,
        data_out_size: int | None = None,
        ctx_out_size: int = 0,
    ) -> TestRunResult:
        """``BPF_PROG_TEST_RUN``: run the program ``repeat`` times in the kernel.

        Supported by socket filter, sched_cls, XDP, raw tracepoint, syscall and a few more types
        (not perf_event or kprobe). ``data_out`` gets room for ``data_in`` plus headroom. Raw
        tracepoint and syscall programs run once with ``ctx_in`` only: the kernel rejects a
        ``repeat`` for them, so it is not sent.
        """
        if self.spec.type in _RUN_ONCE_TYPES:
            if repeat > 1:
                raise ValueError(f"{self.spec._type_name()} programs cannot repeat a test run")
            repeat = 0
        if data_out_size is None:
            data_out_size = len(data_in) + 256 if data_in else 0
        out = cmds.prog_test_run(
            self.fd,
            data_in,
            data_out_size=data_out_size,
            ctx_in=ctx_in,
            ctx_out_size=ctx_out_size,
            repeat=repeat,
        )
        return TestRunResult(out.retval, out.data_out, out.duration_ns, out.ctx_out)

    def info(self) -> ProgramInfo:
        """``BPF_OBJ_GET_INFO_BY_FD``: id, name, tag and run-time statistics."""
        info = cmds.obj_get_info_by_fd(self.fd, "struct bpf_prog_info")
        return ProgramInfo(
            id=info.id,
            name=ffi.string(info.name).decode(errors="replace"),
            type=info.type,
            tag=bytes(ffi.buffer(info.tag, 8)).hex(),
            run_time_ns=info.run_time_ns,
            run_cnt=info.run_cnt,
            verified_insns=info.verified_insns,
            xlated_prog_len=info.xlated_prog_len,
            jited_prog_len=info.jited_prog_len,
        )


def raw_listing(raw: bytes, around: int | None = None, context: int = 3) -> str:
    """A listing of raw instructions: the DSL's disassembler's, else one hex line per slot."""
    try:
        from .asm import disassemble, format_listing

        return format_listing(disassemble(raw), around=around, context=context)
    except Exception:  # no DSL, or bytes it cannot decode: hex is still a listing
        pass
    lines = [f"{i:5d}: {raw[i * 8 : i * 8 + 8].hex(' ')}" for i in range(len(raw) // 8)]
    if around is None:
        return "\n".join(lines)
    lo, hi = max(0, around - context), min(len(lines), around + context + 1)
    return "\n".join((">" if i == around else " ") + lines[i] for i in range(lo, hi))
