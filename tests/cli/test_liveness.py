"""TargetLiveness from events and from a /proc tree (a fake one: no root, no processes)."""

from __future__ import annotations

from profiler.process.liveness import TargetLiveness


def fake_proc(tmp_path, states: dict[int, str]) -> str:
    for pid, state in states.items():
        d = tmp_path / str(pid)
        d.mkdir()
        # comm with spaces and parentheses: the state follows the last ')'
        (d / "stat").write_text(f"{pid} (a (b) c) {state} 1 {pid} {pid} 0 -1 4194304 0\n")
    return str(tmp_path)


def test_the_last_exit_fires_once_and_late_forks_are_ignored():
    fired = []
    live = TargetLiveness([10], on_all_exited=lambda: fired.append(1))
    live.added([11, 12])
    live.exited(10)
    live.exited(11)
    assert live.alive() == {12} and not live.all_exited and fired == []
    live.exited(12)
    assert live.all_exited and fired == [1]
    live.added([13])  # a fork event that comes after the end changes nothing
    live.exited(13)
    assert live.alive() == set() and fired == [1]


def test_proc_fallback_counts_zombies_and_vanished_pids_as_exited(tmp_path):
    proc = fake_proc(tmp_path, {20: "R", 21: "Z", 22: "S"})
    fired = []
    live = TargetLiveness([20, 21, 22, 23], on_all_exited=lambda: fired.append(1))
    live.check(proc)
    assert live.alive() == {20, 22} and fired == []  # 21 a zombie, 23 gone
    (tmp_path / "20" / "stat").write_text("20 (x) X 1\n")
    (tmp_path / "22" / "stat").unlink()
    live.check(proc)
    assert live.all_exited and fired == [1]
