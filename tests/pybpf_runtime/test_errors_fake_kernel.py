"""Error paths through the syscall seam (no root needed): EPERM, ENOSPC, EINVAL, E2BIG."""

from __future__ import annotations

import errno

import pytest

from pybpf import programs
from pybpf.asm import R0, R1, R2, Assembler
from pybpf.bpf_attr import Cmd
from pybpf.errors import BPFError, MissingPrivilegesError, VerifierError
from pybpf.maps import MapSpec, MapType
from pybpf.programs import ProgramSpec, ProgramType
from pybpf.syscall import use_kernel

from .fake_kernel import FAKE_FDS, ScriptedKernel, fail, returns_fd, write_log


def uninitialised_read() -> Assembler:
    a = Assembler()
    a.mov(R0, 0).mov(R1, 1)
    a.mov(R0, R2, comment="r2 was never written")
    return a.exit()


def test_map_create_eperm_names_capabilities_and_sysctl():
    fake = ScriptedKernel({Cmd.MAP_CREATE: fail(errno.EPERM)})
    with use_kernel(fake), pytest.raises(MissingPrivilegesError) as info:
        MapSpec("counts", MapType.HASH, 8, 8, 16).create()
    err = info.value
    assert err.errno == errno.EPERM
    assert isinstance(err, PermissionError) and isinstance(err, BPFError)
    assert "CAP_BPF" in str(err)
    assert "kernel.unprivileged_bpf_disabled" in str(err)
    assert fake.calls == [Cmd.MAP_CREATE]


def test_tracing_program_eperm_names_perfmon_and_paranoid():
    fake = ScriptedKernel({Cmd.PROG_LOAD: fail(errno.EPERM)})
    spec = ProgramSpec("sampler", ProgramType.PERF_EVENT, Assembler().mov(R0, 0).exit())
    with use_kernel(fake), pytest.raises(MissingPrivilegesError) as info:
        spec.load()
    assert info.value.errno == errno.EPERM
    assert "CAP_PERFMON" in str(info.value)
    assert "kernel.perf_event_paranoid" in str(info.value)
    # EPERM is not a verifier problem: no second attempt with a log.
    assert fake.calls == [Cmd.PROG_LOAD]


def test_enospc_grows_the_log_and_retries(monkeypatch):
    monkeypatch.setattr(programs, "LOG_SIZE_START", 16)
    full_log = "0: R1=ctx() R10=fp0\n2: (bf) r0 = r2\nR2 !read_ok\nprocessed 3 insns\n"
    sizes = []

    def load(attr):
        sizes.append(attr.log_size)
        if attr.log_size == 0:
            raise OSError(errno.EACCES, "rejected")  # the first, log-less attempt
        write_log(attr, full_log)
        if attr.log_size <= len(full_log):
            raise OSError(errno.ENOSPC, "log truncated")
        raise OSError(errno.EACCES, "rejected")

    a = uninitialised_read()
    with use_kernel(ScriptedKernel({Cmd.PROG_LOAD: load})), pytest.raises(VerifierError) as info:
        ProgramSpec("bad", ProgramType.SOCKET_FILTER, a).load()
    err = info.value
    assert sizes[0] == 0 and sizes[1] == 16
    assert sizes[1:] == sorted(sizes[1:]) and sizes[-1] > len(full_log)
    assert err.errno == errno.EACCES
    assert err.log == full_log
    assert err.insn_index == 2
    assert "R2 !read_ok" in str(err)
    marked = [ln for ln in a.listing(around=2).splitlines() if ln.startswith(">")]
    assert marked and marked[0] in str(err)


def test_a_signal_during_verification_verifies_again_a_bounded_number_of_times():
    # The verifier answers EAGAIN when a signal arrives while it works (a Ctrl-C at start-up).
    answers = [errno.EAGAIN, errno.EAGAIN]

    def load(attr):
        if answers:
            raise OSError(answers.pop(), "interrupted")
        return FAKE_FDS[0]

    fake = ScriptedKernel({Cmd.PROG_LOAD: load})
    with use_kernel(fake):
        spec = ProgramSpec("sampler", ProgramType.SOCKET_FILTER, Assembler().mov(R0, 0).exit())
        prog = spec.load()
        assert prog.fd == FAKE_FDS[0]
        prog.close()
        assert fake.calls == [Cmd.PROG_LOAD] * 3
        always = ScriptedKernel({Cmd.PROG_LOAD: fail(errno.EAGAIN)})
    with use_kernel(always), pytest.raises(BPFError) as info:
        spec.load()
    assert info.value.errno == errno.EAGAIN
    assert always.calls == [Cmd.PROG_LOAD] * programs._EAGAIN_ATTEMPTS


def test_log_growth_stops_at_the_maximum(monkeypatch):
    monkeypatch.setattr(programs, "LOG_SIZE_START", 16)
    monkeypatch.setattr(programs, "LOG_SIZE_MAX", 1024)
    sizes = []

    def load(attr):
        sizes.append(attr.log_size)
        write_log(attr, "x" * 5000)
        raise OSError(errno.ENOSPC, "log truncated")

    with use_kernel(ScriptedKernel({Cmd.PROG_LOAD: load})), pytest.raises(BPFError) as info:
        ProgramSpec("huge", ProgramType.SOCKET_FILTER, uninitialised_read()).load(log_level=1)
    assert info.value.errno == errno.ENOSPC
    assert max(sizes) == 1024


def test_einval_without_log_explains_type_attach_type_flags():
    fake = ScriptedKernel({Cmd.PROG_LOAD: fail(errno.EINVAL)})
    spec = ProgramSpec("odd", 99, Assembler().mov(R0, 0).exit(), expected_attach_type=7)
    with use_kernel(fake), pytest.raises(BPFError) as info:
        spec.load()
    err = info.value
    assert err.errno == errno.EINVAL
    assert "program type" in str(err) and "attach type (7)" in str(err)
    assert not isinstance(err, VerifierError)


def test_e2big_says_too_big():
    fake = ScriptedKernel({Cmd.PROG_LOAD: fail(errno.E2BIG)})
    insns = Assembler()
    for _ in range(10):
        insns.mov(R0, 0)
    insns.exit()
    with use_kernel(fake), pytest.raises(BPFError) as info:
        ProgramSpec("big", ProgramType.SOCKET_FILTER, insns).load()
    assert info.value.errno == errno.E2BIG
    assert "too big (11 instructions" in str(info.value)


@pytest.mark.parametrize("err", [errno.EINVAL, errno.E2BIG, errno.ENOMEM])
def test_map_create_errors_keep_errno_and_explain(err):
    with use_kernel(ScriptedKernel({Cmd.MAP_CREATE: fail(err)})), pytest.raises(BPFError) as info:
        MapSpec("m", MapType.HASH, 4, 4, 1).create()
    assert info.value.errno == err
    assert "create map 'm'" in str(info.value)
    assert "(" in info.value.strerror  # an explanation follows the errno text


def test_map_and_program_close_exactly_once():
    fake = ScriptedKernel({Cmd.MAP_CREATE: returns_fd(), Cmd.PROG_LOAD: returns_fd(FAKE_FDS[1])})
    with use_kernel(fake):
        m = MapSpec("m", MapType.ARRAY, 4, 4, 1).create()
        with m:
            pass
        m.close()
        p = ProgramSpec("p", ProgramType.SOCKET_FILTER, Assembler().mov(R0, 0).exit()).load()
        p.close()
        p.close()
    assert fake.closed == [FAKE_FDS[0], FAKE_FDS[1]]
    with pytest.raises(ValueError, match="closed"):
        _ = m.fd


def test_lookup_of_missing_key_is_none_other_errors_raise():
    fake = ScriptedKernel(
        {
            Cmd.MAP_CREATE: returns_fd(),
            Cmd.MAP_LOOKUP_ELEM: fail(errno.ENOENT),
            Cmd.MAP_DELETE_ELEM: fail(errno.ENOENT),
            Cmd.MAP_UPDATE_ELEM: fail(errno.E2BIG),
        }
    )
    with use_kernel(fake), MapSpec("m", MapType.HASH, 4, 4, 1).create() as m:
        assert m.lookup(1) is None
        assert 1 not in m
        with pytest.raises(KeyError):
            m.delete(1)
        with pytest.raises(BPFError) as info:
            m.update(1, 2)
        assert info.value.errno == errno.E2BIG


def test_names_are_validated_and_truncated():
    assert MapSpec("a_very_long_map_name_indeed", MapType.HASH, 4, 4).name == "a_very_long_map"
    with pytest.raises(ValueError, match="letters, digits"):
        MapSpec("bad-name", MapType.HASH, 4, 4)
    with pytest.raises(ValueError, match="letters, digits"):
        ProgramSpec("no spaces", ProgramType.KPROBE, b"")


class MemlockKernel(ScriptedKernel):
    """A kernel before 5.11 that charges BPF memory to RLIMIT_MEMLOCK, set low."""

    def __init__(self):
        super().__init__({Cmd.MAP_CREATE: self.create})
        self.limits = (64 * 1024, 64 * 1024)
        self.limit_at_create = None

    def getrlimit(self, resource):
        return self.limits

    def setrlimit(self, resource, soft, hard):
        self.limits = (soft, hard)

    def create(self, attr):
        self.limit_at_create = self.limits
        return FAKE_FDS[0]


def test_memlock_is_raised_before_the_first_map_on_old_kernels(monkeypatch):
    from pybpf import syscall

    monkeypatch.setattr(syscall, "kernel_release", lambda: (5, 4))
    fake = MemlockKernel()
    with use_kernel(fake):
        MapSpec("m", MapType.HASH, 4, 4, 1).create().close()
    assert fake.limit_at_create == (syscall.RLIM_INFINITY, syscall.RLIM_INFINITY)


def test_eperm_on_old_kernels_names_cap_sys_admin_and_memlock(monkeypatch):
    from pybpf import syscall

    monkeypatch.setattr(syscall, "kernel_release", lambda: (5, 4))
    err = MissingPrivilegesError("create map 'm'")
    assert "CAP_SYS_ADMIN" in str(err)
    assert "RLIMIT_MEMLOCK" in str(err)
