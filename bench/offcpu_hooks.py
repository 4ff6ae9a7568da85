"""The three forms of ``sched_switch`` our off-CPU program can hang on, loaded for measurement.

The classic and the raw tracepoint go through :class:`profiler.bpf.offcpu.OffCpuSampler` (the
profiler's own code). The BTF tracepoint (``tp_btf``) is loaded here only, to measure it: it is a
``TRACING`` program whose load names the BTF id of ``btf_trace_sched_switch`` in the kernel's
BTF (``/sys/kernel/btf/vmlinux``), a field pybpf's ``BPF_PROG_LOAD`` attr does not carry, so this
module declares the longer attr itself and finds the id with a small BTF type walk. The program
body is the raw tracepoint's (the same argument layout).
"""

from __future__ import annotations

import struct

from cffi import FFI

from pybpf.owned_fd import OwnedFd
from pybpf.programs import AttachType, ProgramType
from pybpf.syscall import kernel

BTF_VMLINUX = "/sys/kernel/btf/vmlinux"
BTF_KIND_TYPEDEF = 8
# Bytes that follow the 12-byte ``struct btf_type`` for each kind (vlen = its low 16 info bits).
_EXTRA_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_EXTRA_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}

_ffi = FFI()
_ffi.cdef(
    """
    struct prog_load_btf {
        uint32_t prog_type;
        uint32_t insn_cnt;
        uint64_t insns;
        uint64_t license;
        uint32_t log_level;
        uint32_t log_size;
        uint64_t log_buf;
        uint32_t kern_version;
        uint32_t prog_flags;
        char     prog_name[16];
        uint32_t prog_ifindex;
        uint32_t expected_attach_type;
        uint32_t prog_btf_fd;
        uint32_t func_info_rec_size;
        uint64_t func_info;
        uint32_t func_info_cnt;
        uint32_t line_info_rec_size;
        uint64_t line_info;
        uint32_t line_info_cnt;
        uint32_t attach_btf_id;
    };
    """
)


def btf_type_id(name: str, kind: int = BTF_KIND_TYPEDEF, path: str = BTF_VMLINUX) -> int:
    """The id of the BTF type ``name`` of ``kind`` in ``path`` (a walk of every type record)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", data, 0
    )
    if magic != 0xEB9F:
        raise ValueError(f"{path} is not BTF (magic {magic:#x})")
    strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
    wanted = strings.find(b"\0" + name.encode() + b"\0")
    if wanted < 0:
        raise LookupError(f"no BTF type named {name!r} in {path}")
    wanted += 1
    pos, end, type_id = hdr_len + type_off, hdr_len + type_off + type_len, 1
    while pos < end:
        name_off, info, _size = struct.unpack_from("<III", data, pos)
        k, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if name_off == wanted and k == kind:
            return type_id
        pos += 12 + _EXTRA_FIXED.get(k, 0) + _EXTRA_PER_VLEN.get(k, 0) * vlen
        type_id += 1
    raise LookupError(f"no BTF type {name!r} of kind {kind} in {path}")


class BtfProgram(OwnedFd):
    """A loaded ``tp_btf`` program (owns its fd, closed once)."""

    KIND = "tp_btf program"

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.name = "pp_offcpu_btf"


def load_tp_btf(insns: object, tracepoint: str = "sched_switch") -> BtfProgram:
    """Load ``insns`` (an Assembler) as the BTF tracepoint ``tracepoint``."""
    raw = insns.assemble()
    code = _ffi.from_buffer(raw)
    license = _ffi.new("char[]", b"GPL")
    log = _ffi.new("char[]", 1 << 20)
    attr = _ffi.new("struct prog_load_btf *")
    attr.prog_type = ProgramType.TRACING
    attr.insn_cnt = len(raw) // 8
    attr.insns = int(_ffi.cast("uintptr_t", code))
    attr.license = int(_ffi.cast("uintptr_t", license))
    attr.log_level = 1
    attr.log_size = 1 << 20
    attr.log_buf = int(_ffi.cast("uintptr_t", log))
    attr.prog_name = b"pp_offcpu_btf"
    attr.expected_attach_type = AttachType.TRACE_RAW_TP
    attr.attach_btf_id = btf_type_id(f"btf_trace_{tracepoint}")
    try:
        fd = kernel().bpf(5, attr, _ffi.sizeof(attr[0]))  # BPF_PROG_LOAD
    except OSError as exc:
        tail = _ffi.string(log).decode(errors="replace")[-2000:]
        raise OSError(exc.errno, f"load tp_btf program: {exc}\n{tail}") from None
    return BtfProgram(fd)


def btf_sampler_class():
    """An :class:`OffCpuSampler` whose program is loaded as a BTF tracepoint (hook="tp_btf")."""
    from profiler.bpf import offcpu_program as op
    from profiler.bpf.offcpu import OffCpuSampler
    from pybpf.raw_tracepoint import attach_raw_tracepoint

    class BtfOffCpuSampler(OffCpuSampler):
        def _load_and_attach(self, config: op.OffCpuConfig, maps: op.OffCpuMaps) -> None:
            insns = op.build_offcpu(config, maps)
            program = load_tp_btf(insns)
            self._stack.callback(program.close)
            link = attach_raw_tracepoint(program, None)
            self._stack.callback(link.close)
            self.program, self.insns, self._attachment = program, insns, link

    return BtfOffCpuSampler


def run_stats(program: object) -> tuple[int, int]:
    """(run_time_ns, run_cnt) of a loaded program (needs BPF stats enabled)."""
    from pybpf import bpf_commands as cmds

    info = cmds.obj_get_info_by_fd(program.fd, "struct bpf_prog_info")
    return int(info.run_time_ns), int(info.run_cnt)
