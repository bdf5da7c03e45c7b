"""A dyno's memory and CPU read from its cgroup files on this host.

Docker's stats API takes tens of milliseconds per container and keeps the engine busy: a
platform sampling 300 dynos every 10 s spent all its time waiting for it. The kernel's
cgroup files hold the same numbers (``docker stats`` reads them too) and cost a few file
reads. cgroup v2 (``memory.current``, ``memory.stat``, ``memory.max``, ``cpu.stat``) and v1
(``memory.usage_in_bytes``, ``memory.stat``, ``memory.limit_in_bytes``, ``cpuacct.usage``),
for the cgroupfs and systemd drivers. Memory is usage less inactive file cache, as
``docker stats`` shows it. None when the files are not there (another host's dyno, another
layout): the caller then asks the engine.
"""

from __future__ import annotations

from pathlib import Path

from moorage.spec.dyno import Dyno, DynoStats

ROOT = Path("/sys/fs/cgroup")


def read_stats(container_id: str, dyno: Dyno, root: Path = ROOT) -> DynoStats | None:
    try:
        found = _v2(root, container_id) or _v1(root, container_id)
    except (OSError, ValueError):
        return None  # stopped meanwhile, or a file of an unexpected shape
    if found is None:
        return None
    memory, limit, cpu = found
    return DynoStats(
        app=dyno.app,
        process=dyno.label,
        memory_bytes=memory,
        memory_limit=limit,
        cpu_seconds=cpu,
    )


def _v2(root: Path, cid: str) -> tuple[int, int, float] | None:
    for group in (root / "system.slice" / f"docker-{cid}.scope", root / "docker" / cid):
        if (group / "memory.current").exists():
            stat = _keyed(group / "memory.stat")
            usage = int((group / "memory.current").read_text())
            limit_text = (group / "memory.max").read_text().strip()
            cpu = _keyed(group / "cpu.stat")["usage_usec"] / 1e6
            limit = 0 if limit_text == "max" else int(limit_text)
            return max(0, usage - stat.get("inactive_file", 0)), limit, cpu
    return None


def _v1(root: Path, cid: str) -> tuple[int, int, float] | None:
    for parent in ("docker", f"system.slice/docker-{cid}.scope"):
        sub = parent if parent != "docker" else f"docker/{cid}"
        memory, cpuacct = root / "memory" / sub, root / "cpuacct" / sub
        if (memory / "memory.usage_in_bytes").exists():
            stat = _keyed(memory / "memory.stat")
            usage = int((memory / "memory.usage_in_bytes").read_text())
            limit = int((memory / "memory.limit_in_bytes").read_text())
            cpu = int((cpuacct / "cpuacct.usage").read_text()) / 1e9
            return max(0, usage - stat.get("total_inactive_file", 0)), limit, cpu
    return None


def _keyed(path: Path) -> dict[str, int]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out
