"""Why a watcher cannot start, said clearly; nothing left open on the way out."""

from __future__ import annotations

import errno
import shutil
import struct
import subprocess
import sys

import pytest

from profiler.process.events import watcher as proc_events
from profiler.process.events.watcher import (
    ProcessEvents,
    ProcessEventsError,
    ProcessEventsPermissionError,
)
from profiler.process.events.wire import PROC_CN_MCAST_IGNORE, PROC_CN_MCAST_LISTEN
from tests.support import skip_or_fail


class FakeSocket:
    """A netlink socket whose bind or creation fails the way the kernel's does."""

    instances: list[FakeSocket] = []

    def __init__(self, family, kind, proto, *, bind_error=None):
        self.bind_error = bind_error
        self.closed = 0
        FakeSocket.instances.append(self)

    def setsockopt(self, *args):
        pass

    def bind(self, address):
        raise self.bind_error

    def close(self):
        self.closed += 1


@pytest.fixture
def fake_sockets(monkeypatch):
    FakeSocket.instances = []

    def install(**kwargs):
        monkeypatch.setattr(
            proc_events.socket, "socket", lambda *a: FakeSocket(*a, **kwargs), raising=True
        )

    return install


def test_bind_without_cap_net_admin_names_the_capability_and_closes(fake_sockets):
    fake_sockets(bind_error=PermissionError(errno.EPERM, "Operation not permitted"))
    with pytest.raises(ProcessEventsPermissionError, match="CAP_NET_ADMIN") as info:
        ProcessEvents()
    assert info.value.errno == errno.EPERM and isinstance(info.value, PermissionError)
    assert [s.closed for s in FakeSocket.instances] == [1]


def test_other_bind_errors_pass_through_and_close(fake_sockets):
    fake_sockets(bind_error=OSError(errno.EADDRINUSE, "in use"))
    with pytest.raises(OSError) as info:
        ProcessEvents()
    assert info.value.errno == errno.EADDRINUSE
    assert [s.closed for s in FakeSocket.instances] == [1]


def test_kernel_without_the_connector_is_named(monkeypatch):
    def no_connector(*args):
        raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")

    monkeypatch.setattr(proc_events.socket, "socket", no_connector)
    with pytest.raises(ProcessEventsError, match="CONFIG_PROC_EVENTS") as info:
        ProcessEvents()
    assert info.value.errno == errno.EPROTONOSUPPORT


def test_a_user_namespace_is_refused_instead_of_silently_deaf():
    unshare = shutil.which("unshare")
    if unshare is None:
        skip_or_fail("needs util-linux unshare")
    code = (
        "from profiler.process.events import ProcessEvents\n"
        "try:\n    ProcessEvents()\nexcept OSError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run(
        [unshare, "--user", "--map-root-user", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=proc_events.__file__.rsplit("/profiler/", 1)[0],
    )
    if out.returncode != 0 and "unshare" in out.stderr:
        skip_or_fail(f"user namespaces unavailable here: {out.stderr.strip()}")
    assert out.stdout.startswith("ProcessEventsError") and "user namespace" in out.stdout


class RecordingSocket:
    """A netlink socket that accepts everything and records what was sent."""

    def __init__(self, *args):
        self.sent: list[bytes] = []
        self.closed = 0

    def setsockopt(self, *args):
        pass

    def bind(self, address):
        self.bound = address

    def getsockname(self):
        return (4321, 1)

    def sendto(self, data, address):
        assert address == (0, 0)  # to the kernel
        self.sent.append(data)

    def setblocking(self, flag):
        pass

    def close(self):
        self.closed += 1


def test_subscribes_to_the_proc_group_and_unsubscribes_on_close(monkeypatch):
    made: list[RecordingSocket] = []

    def make(*args):
        made.append(RecordingSocket())
        return made[-1]

    monkeypatch.setattr(proc_events.socket, "socket", make)
    watcher = ProcessEvents()
    watcher.close()
    watcher.close()
    (sock,) = made
    assert sock.bound == (0, 1) and sock.closed == 1
    ops = [struct.unpack_from("=I", msg, 36)[0] for msg in sock.sent]
    ports = [struct.unpack_from("=I", msg, 12)[0] for msg in sock.sent]
    assert ops == [PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE] and ports == [4321, 4321]
