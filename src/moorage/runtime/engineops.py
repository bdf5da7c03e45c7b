"""Small engine operations both runtimes use: readiness probes, a stats sample, untagging."""

from __future__ import annotations

import http.client
import io
import socket
import tarfile

import docker
import docker.errors

from moorage.errors import InvalidParams, NotFound, RuntimeFailure
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
        process=dyno.label,
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


LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket
_IPV6_LOOPBACK = "00000000000000000000000001000000"  # ::1


def _loopback(address: str) -> bool:
    """127.0.0.0/8 (Docker's DNS listens on 127.0.0.11 in every container), ::1, and
    127.x mapped into IPv6; /proc writes each 32-bit word little-endian."""
    if len(address) == 8:
        return address.upper().endswith("7F")
    return address == _IPV6_LOOPBACK or (
        address[16:24].upper() == "FFFF0000" and address.upper().endswith("7F")
    )


def listening_ports(tables: str) -> list[int]:
    """TCP ports listened on, reachable from other hosts (not loopback only), from the text
    of ``/proc/net/tcp`` and ``/proc/net/tcp6``."""
    ports = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN or ":" not in fields[1]:
            continue
        address, _, port = fields[1].rpartition(":")
        if _loopback(address):
            continue
        try:
            ports.add(int(port, 16))
        except ValueError:
            continue
    return sorted(ports)


def host_listening(pid: int) -> list[int] | None:
    """:func:`listening_ports` of process ``pid``'s network namespace, read on this host;
    None when its tables cannot be read."""
    text = ""
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as fh:
                text += fh.read()
        except OSError:
            if table == "tcp":
                return None
    return listening_ports(text)


def read_container_file(
    client: docker.DockerClient, container: str, path: str, limit: int
) -> bytes:
    """The bytes of one regular file of a container (through the engine's archive)."""
    try:
        stream, stat = client.api.get_archive(container, path)
    except docker.errors.NotFound as exc:
        raise NotFound(f"No file {path} in the dyno.") from exc
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot read {path} in the dyno: {exc}") from exc
    if int(stat.get("size") or 0) > limit:
        raise InvalidParams(f"{path} is larger than {limit >> 20} MB; copy a smaller file.")
    if int(stat.get("mode") or 0) & (1 << 31):  # Go's os.ModeDir
        raise InvalidParams(f"{path} is a folder; name a file.")
    buf = io.BytesIO()
    for chunk in stream:
        buf.write(chunk)
        if buf.tell() > limit + (1 << 20):
            raise InvalidParams(f"{path} is larger than {limit >> 20} MB; copy a smaller file.")
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        extracted = tar.extractfile(member) if member is not None else None
        if extracted is None:
            raise InvalidParams(f"{path} is not a regular file.")
        return extracted.read()
