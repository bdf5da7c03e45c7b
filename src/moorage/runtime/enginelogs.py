"""Following dyno output on an event loop: many log streams, one thread.

docker-py reads a following log stream from a blocking socket, so each followed dyno held a
thread of its own: a host with a thousand dynos ran a thousand threads. Here the Engine API's
log endpoints (``/containers/<id>/logs``, ``/services/<id>/logs``) are read with httpx's
asyncio client on the engine docker-py talks to (its unix socket, or plain HTTP over TCP),
and the log pump follows every dyno as a task on one event loop. An engine reached another
way (``ssh://``) keeps docker-py's blocking stream, one thread per stream (:func:`bridged`).

The stream is the engine's: without a TTY a sequence of frames (8-byte header: stream type,
three zero bytes, big-endian payload size; one frame per log entry, or per 16 KB part of a
longer one), with a TTY the raw bytes. With ``timestamps=1`` each entry starts with an RFC
3339 timestamp and a space.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import docker
import docker.errors
import httpx

from moorage.errors import RuntimeFailure

Entry = tuple[str, bytes]  # (RFC 3339 timestamp, the line without it)
_HEADER = 8


def async_client(api: Any) -> httpx.AsyncClient | None:
    """An asyncio client for the engine of docker-py's ``api`` (an ``APIClient``), with its
    API version as the base path; None when it is reached some other way than a unix socket
    or plain HTTP."""
    base = str(api.base_url)
    version = f"/v{api.api_version}"
    timeout = httpx.Timeout(30.0, read=None)  # a followed stream may be quiet for days
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=16)  # a stream each
    if base.startswith("http+docker://"):
        path = getattr(api.adapters.get("http+docker://"), "socket_path", None)
        if not path:
            return None
        transport = httpx.AsyncHTTPTransport(uds=str(path), limits=limits)
        return httpx.AsyncClient(
            transport=transport, base_url=f"http://docker{version}", timeout=timeout
        )
    if base.startswith("http://"):
        return httpx.AsyncClient(base_url=base + version, timeout=timeout, limits=limits)
    return None


async def is_tty(client: httpx.AsyncClient, kind: str, ident: str) -> bool | None:
    """Whether container or service ``ident`` has a TTY (its stream is then raw bytes);
    None when there is no such container or service."""
    try:
        resp = await client.get(
            f"/containers/{ident}/json" if kind == "container" else f"/services/{ident}"
        )
    except httpx.HTTPError as exc:
        raise RuntimeFailure(f"Cannot read the log of {ident[:12]}: {exc}") from exc
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise RuntimeFailure(f"Cannot read the log of {ident[:12]}: {_said(resp)}")
    data = resp.json()
    config = data.get("Config") or data.get("Spec", {}).get("TaskTemplate", {}).get(
        "ContainerSpec", {}
    )
    return bool(config.get("Tty") or config.get("TTY"))


async def follow(
    client: httpx.AsyncClient, kind: str, ident: str, since: float, tty: bool
) -> AsyncIterator[Entry]:
    """The entries of a container's or service's output after ``since``, following it until
    the engine ends the stream (the container stopped)."""
    params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1"}
    if since > 0:  # services take whole seconds
        params["since"] = f"{since:.6f}" if kind == "container" else str(int(since))
    try:
        async with client.stream("GET", f"/{kind}s/{ident}/logs", params=params) as resp:
            if resp.status_code != 200:
                await resp.aread()
                raise RuntimeFailure(f"Cannot read the log of {ident[:12]}: {_said(resp)}")
            lines = _raw_lines if tty else _frames
            async for line in lines(resp.aiter_bytes()):
                ts, _, text = line.partition(b" ")
                yield ts.decode(errors="replace"), text
    except httpx.HTTPError as exc:
        raise RuntimeFailure(f"The log stream of {ident[:12]} broke: {exc}") from exc


async def _frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        pos = 0
        while len(buf) - pos >= _HEADER:
            end = pos + _HEADER + int.from_bytes(buf[pos + 4 : pos + _HEADER], "big")
            if end > len(buf):
                break
            yield bytes(buf[pos + _HEADER : end]).rstrip(b"\n")
            pos = end
        del buf[:pos]


async def _raw_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r")
    if pending:
        yield pending


async def bridged(stream: Callable[[], Iterator[Entry]]) -> AsyncIterator[Entry]:
    """A blocking stream (docker-py's) read by a thread of its own, as an async iterator."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Entry | BaseException | None] = asyncio.Queue(maxsize=1000)

    def pump() -> None:
        item: Entry | BaseException | None = None
        try:
            for item in stream():
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
            item = None
        except BaseException as exc:  # handed to the reader, raised there
            item = exc
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    threading.Thread(target=pump, daemon=True, name="log-follow").start()
    while (got := await queue.get()) is not None:
        if isinstance(got, BaseException):
            raise got
        yield got


def _said(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("message", resp.text)).strip()
    except ValueError:
        return resp.text.strip() or f"HTTP {resp.status_code}"


def blocking_container_logs(
    client: docker.DockerClient, dyno_id: str, since: float
) -> Iterator[Entry]:
    """:func:`follow` for a container with docker-py (for :func:`bridged`)."""
    try:
        c = client.containers.get(dyno_id)
        tty = bool(c.attrs.get("Config", {}).get("Tty"))
        chunks = c.logs(stream=True, follow=True, timestamps=True, since=since or None)
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot read the log of {dyno_id[:12]}: {exc}") from exc
    pending = b""
    for chunk in chunks:
        if tty:  # raw stream: lines may span chunks
            pending += chunk
            *lines, pending = pending.split(b"\n")
        else:  # one frame per line (or per 16 KB part of a longer line)
            lines = [chunk.rstrip(b"\n")]
        for line in lines:
            ts, _, text = line.partition(b" ")
            yield ts.decode(errors="replace"), text
    if pending:
        ts, _, text = pending.partition(b" ")
        yield ts.decode(errors="replace"), text


def blocking_service_logs(api: Any, service_id: str, since: float) -> Iterator[Entry]:
    """:func:`follow` for a Swarm service with docker-py (for :func:`bridged`)."""
    try:
        chunks = api.service_logs(
            service_id, follow=True, stdout=True, stderr=True, timestamps=True,
            since=int(since) or None,
        )  # fmt: skip
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot read the log of {service_id[:12]}: {exc}") from exc
    for chunk in chunks:
        line = chunk.rstrip(b"\n") if isinstance(chunk, bytes) else str(chunk).encode()
        ts, _, text = line.partition(b" ")
        yield ts.decode(errors="replace"), text
