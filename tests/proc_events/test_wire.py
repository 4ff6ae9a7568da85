"""The proc connector wire format: decoding what the kernel sends, encoding what we send."""

from __future__ import annotations

import os
import struct

from hypothesis import given
from hypothesis import strategies as st

from profiler.process.events.wire import (
    CN_IDX_PROC,
    CN_VAL_PROC,
    NLMSG_DONE,
    PROC_CN_MCAST_IGNORE,
    PROC_CN_MCAST_LISTEN,
    ExecEvent,
    ExitEvent,
    ForkEvent,
    control_message,
    encode_event,
    parse_datagram,
)

pids = st.integers(min_value=1, max_value=2**22)
stamps = st.integers(min_value=0, max_value=2**63)
forks = st.builds(ForkEvent, pids, pids, pids, pids, stamps)
execs = st.builds(ExecEvent, pids, pids, stamps)
exits = st.builds(ExitEvent, pids, pids, st.integers(0, 0xFFFF), st.sampled_from([-1, 17]), stamps)
events = st.one_of(forks, execs, exits)


@given(st.lists(events, max_size=8))
def test_decodes_what_the_kernel_layout_encodes(evs):
    # Several messages in one datagram, each NLMSG_ALIGNed, as netlink allows.
    data = b"".join(encode_event(e, seq=i) for i, e in enumerate(evs))
    assert parse_datagram(data, threads=True) == evs


@given(st.lists(events, max_size=8))
def test_threads_false_keeps_only_process_events(evs):
    data = b"".join(encode_event(e) for e in evs)
    kept = parse_datagram(data, threads=False)
    assert kept == [e for e in evs if isinstance(e, ExecEvent) or not e.is_thread]


def test_message_sizes_follow_the_uapi_layout():
    # nlmsghdr 16 + cn_msg 20 + proc_event (what, cpu, u64 timestamp, 24-byte union) 40.
    assert len(encode_event(ExecEvent(5, 5, 1))) == 16 + 20 + 40


def test_is_thread_for_fork_and_exit():
    assert ForkEvent(1, 1, 10, 11, 0).is_thread
    assert not ForkEvent(1, 1, 10, 10, 0).is_thread
    assert ExitEvent(10, 11, 0, -1, 0).is_thread
    assert not ExitEvent(10, 10, 0, 17, 0).is_thread


@given(st.integers(0, 255), st.integers(1, 64))
def test_exit_status_and_signal_agree_with_os_wait_macros(code, sig):
    exited = ExitEvent(1, 1, code << 8, 17, 0)
    killed = ExitEvent(1, 1, sig, 17, 0)
    assert exited.status == os.WEXITSTATUS(exited.exit_code) and exited.signal is None
    if os.WIFSIGNALED(killed.exit_code):
        assert killed.signal == os.WTERMSIG(killed.exit_code) and killed.status is None


def test_skips_other_event_kinds_acks_and_foreign_connector_messages():
    exec_msg = encode_event(ExecEvent(7, 7, 3))
    # The same message as a PROC_EVENT_COMM (0x200) and as an ack (PROC_EVENT_NONE).
    comm = exec_msg[:36] + struct.pack("=I", 0x200) + exec_msg[40:]
    ack = exec_msg[:36] + struct.pack("=I", 0) + exec_msg[40:]
    foreign = exec_msg[:16] + struct.pack("=I", 4) + exec_msg[20:]  # cn idx 4 (not proc)
    assert parse_datagram(comm + ack + foreign + exec_msg) == [ExecEvent(7, 7, 3)]


def test_truncated_datagrams_yield_what_is_whole():
    good = encode_event(ExecEvent(7, 7, 3))
    second = encode_event(ExitEvent(7, 7, 0, 17, 4))
    for cut in range(len(second)):
        assert parse_datagram(good + second[:cut]) == [ExecEvent(7, 7, 3)]
    # A length field smaller than a header must not loop forever.
    assert parse_datagram(struct.pack("=IHHII", 0, NLMSG_DONE, 0, 0, 0) + good) == []


def test_control_message_layouts():
    port = 4242
    legacy = control_message(PROC_CN_MCAST_LISTEN, port, None, seq=9)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", legacy)
    assert (length, kind, flags, seq, pid) == (len(legacy), NLMSG_DONE, 0, 9, port)
    idx, val, cseq, ack, size, cflags = struct.unpack_from("=IIIIHH", legacy, 16)
    assert (idx, val, cseq, ack, size, cflags) == (CN_IDX_PROC, CN_VAL_PROC, 9, 0, 4, 0)
    assert struct.unpack_from("=I", legacy, 36) == (PROC_CN_MCAST_LISTEN,)
    # struct proc_input {enum proc_cn_mcast_op mcast_op; enum proc_cn_event event_type;}
    filtered = control_message(PROC_CN_MCAST_IGNORE, port, 0x80000003)
    assert len(filtered) == 16 + 20 + 8
    assert struct.unpack_from("=H", filtered, 32) == (8,)
    assert struct.unpack_from("=II", filtered, 36) == (PROC_CN_MCAST_IGNORE, 0x80000003)
