"""perf_event_attr layout, perf_event_open of cpu-clock (real kernel) and its error paths (seam)."""

from __future__ import annotations

import errno
import os
import struct
import time

import pytest

from pybpf import perf_event as pe
from pybpf.syscall import use_kernel
from tests.support import skip_or_fail

from .kernels import RecordingKernel, always


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _flags_word(attr: object) -> int:
    # The flag bit-fields are the u64 at offset 40 in the UAPI struct.
    return struct.unpack_from("<Q", bytes(pe.ffi.buffer(attr)), 40)[0]


def test_attr_layout_matches_uapi_offsets():
    ffi = pe.ffi
    assert pe.ATTR_SIZE == 128  # PERF_ATTR_SIZE_VER7
    offsets = {
        name: ffi.offsetof("struct perf_event_attr", name)
        for name in (
            "config",
            "sample_period",
            "sample_type",
            "wakeup_events",
            "config1",
            "config2",
            "sample_regs_intr",
            "sig_data",
        )
    }
    assert offsets == {
        "config": 8,
        "sample_period": 16,
        "sample_type": 24,
        "wakeup_events": 48,
        "config1": 56,
        "config2": 64,
        "sample_regs_intr": 96,
        "sig_data": 120,
    }


@pytest.mark.parametrize(
    ("field", "bit"),
    [
        ("disabled", 0),
        ("inherit", 1),
        ("freq", 10),
        ("watermark", 14),
        ("sample_id_all", 18),
        ("sigtrap", 37),
    ],
)
def test_flag_bitfields_land_on_kernel_bits(field, bit):
    attr = pe.new_attr(**{field: 1})
    assert _flags_word(attr) == 1 << bit
    assert attr.size == pe.ATTR_SIZE


def test_ioctl_numbers_follow_ioc_encoding():
    assert (pe.PERF_EVENT_IOC_ENABLE, pe.PERF_EVENT_IOC_DISABLE) == (0x2400, 0x2401)
    # _IOW('$', 8, __u32): direction write (1) << 30 | size 4 << 16 | '$' << 8 | 8
    assert pe.PERF_EVENT_IOC_SET_BPF == (1 << 30) | (4 << 16) | (ord("$") << 8) | 8


@pytest.mark.parametrize(
    ("text", "cpus"), [("0", [0]), ("0-3", [0, 1, 2, 3]), ("0-1,4,6-7\n", [0, 1, 4, 6, 7])]
)
def test_parse_cpu_list(text, cpus):
    assert pe.parse_cpu_list(text) == cpus


def test_online_cpus_agrees_with_os():
    # every CPU we may run on is online
    assert os.sched_getaffinity(0) <= set(pe.online_cpus())


def test_freq_and_period_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        pe.open_cpu_clock(pid=0, freq=99, period=1000)
    with pytest.raises(ValueError, match="cpu"):
        pe.open_cpu_clock()


@pytest.mark.bpf
def test_cpu_clock_for_this_process_counts_cpu_time(no_fd_leak):
    with pe.open_cpu_clock(pid=0) as event:
        before = event.read_count()
        _spin(0.05)
        after = event.read_count()
    # cpu-clock counts nanoseconds of CPU time: spinning 50 ms of process time adds at least
    # most of it (process_time also counts other threads, so compare loosely from below).
    assert after - before >= 25_000_000
    assert event.closed


@pytest.mark.bpf
def test_disable_stops_counting_and_enable_resumes(no_fd_leak):
    with pe.open_cpu_clock(pid=0, disabled=True) as event:
        _spin(0.02)
        assert event.read_count() == 0
        event.enable()
        _spin(0.02)
        event.disable()
        frozen = event.read_count()
        _spin(0.02)
        assert event.read_count() == frozen > 0
        event.reset()
        assert event.read_count() == 0


@pytest.mark.bpf
def test_sampling_events_on_every_online_cpu(no_fd_leak):
    with pe.open_cpu_clock_on_cpus(freq=99) as events:
        assert [e.cpu for e in events] == pe.online_cpus()
        assert len({e.id for e in events}) == len(events)
        assert all("99 Hz" in e.description for e in events)
    assert all(e.closed for e in events)


@pytest.mark.bpf
def test_period_event_opens(no_fd_leak):
    with pe.open_cpu_clock(cpu=0, period=10_000_000) as event:
        assert "every 10000000 ns" in repr(event)


@pytest.mark.bpf
def test_inherit_counts_children(no_fd_leak):
    import subprocess
    import sys

    with pe.open_cpu_clock(pid=os.getpid(), inherit=True) as event:
        start = event.read_count()
        code = "import time\ne=time.process_time()+0.2\nwhile time.process_time()<e: pass"
        subprocess.run([sys.executable, "-c", code], check=True)
        # the child spun 200 ms; our own share in this window is tiny
        assert event.read_count() - start >= 150_000_000


@pytest.mark.bpf
def test_cgroup_event_counts_a_cgroup(no_fd_leak, tmp_path):
    root = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    if not os.path.exists(os.path.join(root, "cgroup.procs")):
        skip_or_fail("no cgroup v2 hierarchy")
    group = os.path.join(root, f"pybpf_events_test_{os.getpid()}")
    os.mkdir(group)
    try:
        import subprocess
        import sys

        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; sys.stdin.read()"
                "\nimport time\ne=time.process_time()+0.2\n"
                "while time.process_time()<e: pass",
            ],
            stdin=subprocess.PIPE,
        )
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(child.pid))
        with pe.PerfEventSet(pe.open_cpu_clock(cpu=c, cgroup=group) for c in pe.online_cpus()) as s:
            child.communicate(b"")
            total = sum(e.read_count() for e in s)
        assert total >= 150_000_000
    finally:
        os.rmdir(group)


@pytest.mark.bpf
def test_unknown_pid_says_no_such_process(no_fd_leak):
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    with pytest.raises(ProcessLookupError, match="no such process") as info:
        pe.open_cpu_clock(pid=pid_max + 1, freq=99)
    assert info.value.errno == errno.ESRCH


def test_missing_cgroup_directory_is_named(no_fd_leak, tmp_path):
    with pytest.raises(FileNotFoundError, match="cgroup directory"):
        pe.open_cpu_clock(cpu=0, cgroup=tmp_path / "absent")


@pytest.mark.parametrize("err", [errno.EPERM, errno.EACCES])
def test_permission_errors_name_perfmon_and_paranoid(err, no_fd_leak):
    with use_kernel(RecordingKernel(always(err))), pytest.raises(PermissionError) as info:
        pe.open_cpu_clock(cpu=0, freq=99)
    assert isinstance(info.value, pe.MissingPrivilegesError)
    assert info.value.errno == err
    assert "CAP_PERFMON" in str(info.value)
    assert "kernel.perf_event_paranoid" in str(info.value)


def test_other_errors_keep_errno_and_say_what(no_fd_leak):
    with use_kernel(RecordingKernel(always(errno.EINVAL))), pytest.raises(OSError) as info:
        pe.open_cpu_clock(cpu=0, freq=99)
    assert info.value.errno == errno.EINVAL
    assert "cpu-clock at 99 Hz for cpu 0" in str(info.value)


@pytest.mark.bpf
def test_failure_on_second_cpu_closes_the_first(no_fd_leak):
    fake = RecordingKernel({1: errno.EBUSY})
    with use_kernel(fake), pytest.raises(OSError) as info:
        pe.open_cpu_clock_on_cpus(cpus=[0, 1], freq=99)
    assert info.value.errno == errno.EBUSY
    assert fake.closed == fake.opened and len(fake.opened) == 1


@pytest.mark.bpf
def test_close_is_exactly_once(no_fd_leak):
    fake = RecordingKernel()
    with use_kernel(fake):
        event = pe.open_cpu_clock(cpu=0, freq=99)
        event.close()
        event.close()
        with pytest.raises(ValueError, match="closed"):
            event.enable()
    assert fake.closed == fake.opened
