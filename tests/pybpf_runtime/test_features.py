"""Feature probes: real answers on this kernel, missing features through the seam, the CLI."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest

from pybpf import features
from pybpf.__main__ import main
from pybpf.bpf_attr import Cmd
from pybpf.errors import FeatureMissingError, MissingPrivilegesError
from pybpf.maps import MapType
from pybpf.programs import ProgramType
from pybpf.syscall import kernel_release, use_kernel

from .fake_kernel import ScriptedKernel, fail, returns_fd, write_log


@pytest.fixture(autouse=True)
def fresh_cache():
    features.clear_cache()
    yield
    features.clear_cache()


def since_tuple(since: str) -> tuple[int, int]:
    major, minor = since.split(".")
    return int(major), int(minor)


@pytest.mark.bpf
def test_every_probe_agrees_with_the_kernel_version(no_fd_leak):
    results = features.probe_all()
    assert {r.name for r in results} >= {
        "helper:get_stackid",
        "helper:loop",
        "map_type:ringbuf",
        "link_create_perf_event",
        "batch_map_ops",
        "bounded_loops",
        "btf_vmlinux",
        "perf_event_max_stack",
    }
    running = kernel_release()
    for r in results:
        if r.name == "btf_vmlinux":
            continue  # a kernel config choice, not a version
        # A feature is present exactly when the kernel is at least the version that added it.
        assert r.available == (running >= since_tuple(r.since)), r


@pytest.mark.bpf
def test_probes_are_cached(no_fd_leak):
    first = features.check("helper:get_stack")
    fake = ScriptedKernel()  # any kernel call would now fail with ENOSYS
    with use_kernel(fake):
        assert features.check("helper:get_stack") is first
    assert fake.calls == []


@pytest.mark.bpf
def test_helper_not_allowed_for_a_program_type(no_fd_leak):
    assert features.have_helper("get_current_pid_tgid") is True
    # Socket filters may not walk stacks.
    assert features.have_helper("bpf_get_stackid", ProgramType.SOCKET_FILTER) is False
    assert "get_stackid" in features.check("helper:get_stackid@socket_filter").detail


@pytest.mark.bpf
def test_perf_event_max_stack_matches_proc(no_fd_leak):
    with open("/proc/sys/kernel/perf_event_max_stack") as f:
        assert features.perf_event_max_stack() == int(f.read())
    assert features.check("perf_event_max_stack").detail == str(features.perf_event_max_stack())


def test_missing_map_type_raises_feature_missing_with_version():
    with use_kernel(ScriptedKernel({Cmd.MAP_CREATE: fail(errno.EINVAL)})):
        assert features.have_map_type(MapType.RINGBUF) is False
        with pytest.raises(FeatureMissingError) as info:
            features.require("map_type:ringbuf")
    err = info.value
    assert err.feature == "map_type:ringbuf"
    assert err.since == err.since_kernel == "5.8"
    assert "Linux 5.8 or newer" in str(err)


def test_unknown_helper_is_missing():
    def load(attr):
        write_log(attr, "0: (85) call unknown#181\ninvalid func unknown#181\n")
        raise OSError(errno.EINVAL, "rejected")

    with use_kernel(ScriptedKernel({Cmd.PROG_LOAD: load})):
        with pytest.raises(FeatureMissingError) as info:
            features.require("helper:loop")
    assert info.value.since == "5.17"
    assert "invalid func" in str(info.value)


def test_link_create_einval_means_no_perf_event_links():
    fake = ScriptedKernel({Cmd.PROG_LOAD: returns_fd(), Cmd.LINK_CREATE: fail(errno.EINVAL)})
    with use_kernel(fake):
        assert features.have("link_create_perf_event") is False
    assert fake.closed == [returns_fd()(None)]  # the probe program was closed


def test_batch_ops_einval_means_missing():
    fake = ScriptedKernel({Cmd.MAP_CREATE: returns_fd(), Cmd.MAP_LOOKUP_BATCH: fail(errno.EINVAL)})
    with use_kernel(fake):
        assert features.have("batch_map_ops") is False
    assert len(fake.closed) == 1


def test_eperm_is_not_a_missing_feature_and_is_not_cached():
    with use_kernel(ScriptedKernel({Cmd.MAP_CREATE: fail(errno.EPERM)})):
        with pytest.raises(MissingPrivilegesError):
            features.have("map_type:hash")
    with use_kernel(ScriptedKernel({Cmd.MAP_CREATE: returns_fd()})):
        assert features.have("map_type:hash") is True


def test_unknown_feature_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="helper:get_stackid"):
        features.check("time_travel")


def test_cli_reports_missing_privileges(capsys):
    with use_kernel(ScriptedKernel({Cmd.PROG_LOAD: fail(errno.EPERM)})):
        assert main(["probe"]) == 2
    assert "CAP_BPF" in capsys.readouterr().err


@pytest.mark.bpf
def test_cli_json_is_valid_and_complete(no_fd_leak):
    out = subprocess.run(
        [sys.executable, "-m", "pybpf", "probe", "--json"], capture_output=True, text=True
    )
    doc = json.loads(out.stdout)
    names = [f["name"] for f in doc["features"]]
    assert names == features.names()
    assert all(set(f) == {"name", "kind", "available", "since", "detail"} for f in doc["features"])
    assert out.returncode == (0 if all(f["available"] for f in doc["features"]) else 1)


@pytest.mark.bpf
def test_cli_table_has_a_row_per_feature(capsys, no_fd_leak):
    main(["probe"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("kernel ")
    assert lines[1].split()[:4] == ["feature", "kind", "available", "since"]
    rows = {ln.split()[0]: ln for ln in lines[2:]}
    assert set(rows) == set(features.names())
    assert " yes " in rows["map_type:hash"]
