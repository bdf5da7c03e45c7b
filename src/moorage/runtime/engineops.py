"""Small engine operations both runtimes use: readiness probes, a stats sample, untagging."""

from __future__ import annotations

import http.client
import socket

import docker
import docker.errors

from moorage.errors import RuntimeFailure
from moorage.spec.dyno import Dyno, DynoStats


def untag_images(client: docker.DockerClient, prefix: str) -> None:
    """Remove the names under ``prefix`` (untag only: another app may share the layers)."""
    for image in client.images.list():
        refs = list(image.tags) + list(image.attrs.get("RepoDigests") or [])
        for ref in refs:
            if ref.startswith(prefix):
                client.images.remove(ref)


def container_stats(client: docker.DockerClient, container: str, dyno: Dyno) -> DynoStats | None:
    """One sample of ``container`` (running ``dyno``) from its engine (``one_shot``: no 1 s
    wait for a second reading). Memory is the cgroup's usage less its inactive file cache,
    as ``docker stats`` shows."""
    try:
        raw = client.api.stats(container, stream=False, one_shot=True)
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Docker Engine failed to read stats of {dyno.name}: {exc}") from exc
    memory = raw.get("memory_stats") or {}
    cpu = (raw.get("cpu_stats") or {}).get("cpu_usage") or {}
    if "usage" not in memory or "total_usage" not in cpu:
        return None  # not running
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return DynoStats(
        app=dyno.app,
        process=f"{dyno.type}.{dyno.number}",
        memory_bytes=max(0, int(memory["usage"]) - int(cache)),
        memory_limit=int(memory.get("limit", 0)),
        cpu_seconds=int(cpu["total_usage"]) / 1e9,
    )


def http_ok(ip: str, port: int, path: str) -> bool:
    conn = http.client.HTTPConnection(ip, port, timeout=2)
    try:
        conn.request("GET", path, headers={"User-Agent": "moorage-healthcheck"})
        return conn.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def tcp_open(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1):
            return True
    except OSError:
        return False
