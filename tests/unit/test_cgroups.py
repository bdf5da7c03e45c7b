"""A dyno's memory and CPU from cgroup v1 and v2 files (the layouts Docker makes)."""

from __future__ import annotations

from pathlib import Path

from moorage.runtime.cgroups import read_stats
from moorage.spec.dyno import Dyno

CID = "abc123"
DYNO = Dyno(CID, "shop", "web", 2, 1, "f", "up", None, None, "", 0)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_systemd_scope(tmp_path: Path) -> None:
    group = tmp_path / "system.slice" / f"docker-{CID}.scope"
    write(group / "memory.current", "10485760\n")
    write(group / "memory.stat", "anon 6000000\ninactive_file 2097152\nactive_file 1\n")
    write(group / "memory.max", "536870912\n")
    write(group / "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n")
    stats = read_stats(CID, DYNO, tmp_path)
    assert stats is not None
    assert (stats.app, stats.process) == ("shop", "web.2")
    assert stats.memory_bytes == 10485760 - 2097152
    assert stats.memory_limit == 536870912 and stats.cpu_seconds == 2.5


def test_cgroup_v1_cgroupfs(tmp_path: Path) -> None:
    write(tmp_path / "memory/docker" / CID / "memory.usage_in_bytes", "4096000\n")
    write(tmp_path / "memory/docker" / CID / "memory.stat", "cache 5\ntotal_inactive_file 96000\n")
    write(tmp_path / "memory/docker" / CID / "memory.limit_in_bytes", "268435456\n")
    write(tmp_path / "cpuacct/docker" / CID / "cpuacct.usage", "1500000000\n")
    stats = read_stats(CID, DYNO, tmp_path)
    assert stats is not None
    assert (stats.memory_bytes, stats.memory_limit, stats.cpu_seconds) == (4000000, 268435456, 1.5)


def test_no_files_means_ask_the_engine(tmp_path: Path) -> None:
    assert read_stats(CID, DYNO, tmp_path) is None
    write(tmp_path / "docker" / CID / "memory.current", "garbage")
    assert read_stats(CID, DYNO, tmp_path) is None
