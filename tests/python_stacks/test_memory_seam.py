"""``ProcessMemory`` through the process layer's syscall seam: a fake kernel (``use_calls``)
makes ``process_vm_readv`` stop at an unmapped range, read part of one, or say the process is
gone or may not be read, and the batched reads answer each range as the kernel would have."""

from __future__ import annotations

import errno

import pytest

from profiler.process.syscalls import ProcessCalls, use_calls
from profiler.python.errors import MemoryReadError
from profiler.python.memory import MAX_READ, ProcessMemory

PAGE = 0x1000
MAPPED = {0x10000: bytes(range(256)) * 16, 0x30000: b"\xaa" * PAGE}  # two 4 KiB pages


def _byte(address: int) -> int | None:
    for start, data in MAPPED.items():
        if start <= address < start + len(data):
            return data[address - start]
    return None


class FakeKernel(ProcessCalls):
    """``process_vm_readv`` over :data:`MAPPED`, as Linux does it: ranges in order, stopping at
    the first byte it cannot read; ``errno`` from the start when ``fail`` is set."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[list[tuple[int, int]]] = []

    def process_vm_readv_many(self, pid, ranges):
        self.calls.append(list(ranges))
        if self.fail:
            raise OSError(self.fail, "fake")
        out = bytearray()
        for address, size in ranges:
            for a in range(address, address + size):
                b = _byte(a)
                if b is None:
                    if not out:
                        raise OSError(errno.EFAULT, "fake: nothing mapped")
                    return bytes(out)
                out.append(b)
        return bytes(out)

    def process_vm_readv(self, pid, address, size):
        try:
            return self.process_vm_readv_many(pid, [(address, size)])
        finally:
            self.calls.pop()


def test_a_batch_answers_every_readable_range():
    kernel = FakeKernel()
    requests = [
        (0x10000, 4),  # readable
        (0x20000, 8),  # unmapped: the kernel stops here
        (0x10010, 2),  # readable again (a second call)
        (0x10FFE, 8),  # runs off the end of its page: partly read, answered None
        (0x30000, 4),  # readable (a third call)
        (0x30000, MAX_READ + 1),  # too large: never asked
        (-8, 4),  # not a user address: never asked
    ]
    with use_calls(kernel):
        out = ProcessMemory(1).read_many(requests)
    assert out == [bytes(range(4)), None, bytes([16, 17]), None, b"\xaa" * 4, None, None]
    assert len(kernel.calls) == 3 and all(len(c) <= 5 for c in kernel.calls)


@pytest.mark.parametrize("err", [errno.ESRCH, errno.EPERM])
def test_a_process_gone_or_forbidden_raises_the_one_error(err):
    with use_calls(FakeKernel(fail=err)):
        memory = ProcessMemory(1)
        with pytest.raises(MemoryReadError) as caught:
            memory.read_many([(0x10000, 4)])
        assert caught.value.errno == err
        with pytest.raises(MemoryReadError) as caught:
            memory.read(0x10000, 4)
        assert caught.value.errno == err


def test_a_short_read_is_efault():
    with use_calls(FakeKernel()):
        memory = ProcessMemory(1)
        assert memory.read(0x10FF0, 16) == bytes(range(240, 256))
        with pytest.raises(MemoryReadError) as caught:
            memory.read(0x10FF0, 32)  # past the page
        assert caught.value.errno == errno.EFAULT
