"""Parsing /proc/PID/maps."""

from __future__ import annotations

import os
import sys

from profiler.process.maps import parse_maps, parse_maps_line, read_maps

RECORDED = """\
55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 260386                     /usr/bin/app
55d0c0a02000-55d0c0a08000 r-xp 00002000 fe:00 260386                     /usr/bin/app
55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000100000 r-xp 00010000 00:01 4097                       /memfd:jit (deleted)
7f0000200000-7f0000201000 r-xp 00000000 fe:00 555        /opt/my app/lib x.so (deleted)
7f0000300000-7f0000400000 rwxp 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd000fe000-7ffd00100000 r-xp 00000000 00:00 0                          [vdso]
"""


def test_parse_every_kind_of_line():
    maps = parse_maps(RECORDED)
    assert len(maps) == 8
    app = maps[1]
    assert (app.start, app.end, app.offset, app.inode) == (
        0x55D0C0A02000,
        0x55D0C0A08000,
        0x2000,
        260386,
    )
    assert app.executable and app.is_file and not app.deleted and app.dev == "fe:00"
    assert app.map_files_name == "55d0c0a02000-55d0c0a08000"
    heap = maps[2]
    assert heap.path == "[heap]" and heap.is_pseudo and not heap.is_file
    memfd = maps[3]
    assert memfd.path == "/memfd:jit" and memfd.deleted and memfd.offset == 0x10000
    spaced = maps[4]
    assert spaced.path == "/opt/my app/lib x.so" and spaced.deleted
    anonymous = maps[5]
    assert anonymous.path == "" and anonymous.executable and not anonymous.is_file
    assert maps[6].path == "[stack]" and maps[7].path == "[vdso]"


def test_malformed_lines_are_skipped():
    assert parse_maps_line("") is None
    assert parse_maps_line("zz-yy r-xp 0 0 0") is None
    assert parse_maps_line("1000-2000 r-xp") is None


def test_own_maps_hold_the_interpreter():
    maps = read_maps(os.getpid())
    assert [m.start for m in maps] == sorted(m.start for m in maps)
    exe = os.path.realpath(sys.executable)
    assert any(m.path == exe for m in maps)
