"""core/priority.py: the call-control process asks for CPU ahead of
Asterisk's media threads (REQ-T1; measured by bench/ivr_load.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.priority import raise_cpu_priority


def _files(tmp_path: Path, group: str, enabled: str = "1") -> tuple[Path, Path]:
    autogroup = tmp_path / "autogroup"
    autogroup.write_text(group)
    switch = tmp_path / "sched_autogroup_enabled"
    switch.write_text(enabled + "\n")
    return autogroup, switch


def test_zero_changes_nothing(tmp_path: Path) -> None:
    autogroup, switch = _files(tmp_path, "/autogroup-7 nice 0\n")
    assert raise_cpu_priority(0, autogroup=autogroup, autogroup_switch=switch) == []
    assert autogroup.read_text() == "/autogroup-7 nice 0\n"


def test_session_group_gets_the_nice_when_the_kernel_groups_by_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    autogroup, switch = _files(tmp_path, "/autogroup-7 nice 0\n")
    monkeypatch.setattr(os, "getpriority", lambda which, who: -5)  # the process is already there
    done = raise_cpu_priority(-5, autogroup=autogroup, autogroup_switch=switch)
    assert done == ["session group nice 0 -> -5"]
    assert autogroup.read_text() == "-5"


def test_never_lowers_a_higher_priority_and_ignores_autogroup_when_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_to: list[int] = []
    monkeypatch.setattr(os, "getpriority", lambda which, who: -10)
    monkeypatch.setattr(os, "setpriority", lambda which, who, n: set_to.append(n))
    autogroup, switch = _files(tmp_path, "/autogroup-7 nice -10\n")
    assert raise_cpu_priority(-5, autogroup=autogroup, autogroup_switch=switch) == []
    autogroup, switch = _files(tmp_path, "/autogroup-7 nice 0\n", enabled="0")
    assert raise_cpu_priority(-5, autogroup=autogroup, autogroup_switch=switch) == []
    assert autogroup.read_text() == "/autogroup-7 nice 0\n" and set_to == []


def test_without_the_right_it_says_so_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "getpriority", lambda which, who: 0)
    monkeypatch.setattr(os, "setpriority", refuse)
    autogroup, switch = _files(tmp_path, "/autogroup-7 nice 0\n")
    autogroup.chmod(0o444)
    if os.geteuid() == 0:  # root may write a read-only file: refuse the write itself
        monkeypatch.setattr(Path, "write_text", refuse)
    with caplog.at_level("INFO", logger="core.priority"):
        assert raise_cpu_priority(-5, autogroup=autogroup, autogroup_switch=switch) == []
    assert "CPUWeight" in caplog.text
    assert "Operation not permitted" in caplog.text


def test_the_process_nice_is_raised_for_real(tmp_path: Path) -> None:
    """The real call (this test process): it runs as root in CI."""
    if os.geteuid() != 0:
        pytest.skip("a negative nice needs root or CAP_SYS_NICE")
    before = os.getpriority(os.PRIO_PROCESS, 0)
    autogroup, switch = _files(tmp_path, "/autogroup-7 nice 0\n", enabled="0")
    try:
        raise_cpu_priority(min(before, 0) - 1, autogroup=autogroup, autogroup_switch=switch)
        assert os.getpriority(os.PRIO_PROCESS, 0) == min(before, 0) - 1
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)
