"""The local Docker Engine, as ``moor container:push`` and ``container:release`` use it:
build an image from a Dockerfile, push it to the platform's registry, and read the id of a
pushed image.

Nothing here prints: :meth:`LocalDocker.build` yields the build's output lines and
:meth:`LocalDocker.push` yields :class:`LayerProgress` events, which the CLI shows as it
likes. Failures raise Moorage errors (:class:`BuildFailed`, :class:`Unauthorized`,
:class:`RuntimeFailure`) with what to do. docker-py is imported only when an engine is
connected to (it costs 0.2 s), and :func:`image_id` reads a unix socket engine with httpx,
without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from moorage.errors import BuildFailed, RuntimeFailure, Unauthorized

if TYPE_CHECKING:
    import docker

LAYER_ID_CHARS = 12  # Docker shows layers by the first 12 characters of their digest
DONE = ("Pushed", "Layer already exists")


@dataclass(frozen=True)
class LayerProgress:
    """One layer's push progress: ``done`` once pushed (or already there); ``total`` None
    when Docker has not said how large it is."""

    layer: str
    status: str
    current: int = 0
    total: int | None = None
    done: bool = False


def _engine() -> docker.DockerClient:
    import docker  # imported here: it costs 0.2 s at every start of `moor`
    import docker.errors

    try:
        d = docker.from_env(timeout=600)
        d.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Docker does not answer ({exc}). Start dockerd first.") from exc
    return d


class LocalDocker:
    """A connection to the Docker Engine of ``DOCKER_HOST`` (or the default socket)."""

    def __init__(self) -> None:
        self._d = _engine()

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        *,
        buildargs: dict[str, str] | None = None,
        limits: dict[str, int] | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Build ``dockerfile`` (in ``context``) as ``tag``, yielding the output lines;
        :class:`BuildFailed` names the step that failed. ``limits``: docker-py's
        ``container_limits`` of each RUN step's container (memory, cpushares...);
        ``timeout``: seconds the whole build may take (then it is cancelled)."""
        last_step = ""
        deadline = time.monotonic() + timeout if timeout else None
        stream = self._d.api.build(
            path=str(context),
            dockerfile=_relative(context, dockerfile),
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            buildargs=buildargs or None,
            container_limits=limits or None,  # type: ignore[arg-type]
            timeout=int(timeout) if timeout else None,
        )
        try:
            for chunk in stream:
                if deadline is not None and time.monotonic() > deadline:
                    raise BuildFailed(
                        f"Build of {dockerfile.name} took longer than {timeout:.0f}s and was "
                        f"stopped at {last_step or 'the first step'}. The app keeps running "
                        "its current release."
                    )
                if "stream" in chunk:
                    text = chunk["stream"]
                    if text.startswith("Step "):
                        last_step = text.strip()
                    if text.strip():
                        yield text.rstrip("\n")
                if "error" in chunk:
                    raise BuildFailed(
                        f"Build of {dockerfile.name} failed at {last_step or 'the first step'}: "
                        f"{chunk['error'].strip()}. The app keeps running its current release."
                    )
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a build cut short: the engine cancels it when the stream closes

    def push(
        self, repo: str, token: str, auth: dict[str, str] | None = None
    ) -> Iterator[LayerProgress]:
        """Push ``repo:latest`` with the API token as password (or ``auth``, docker-py's
        ``auth_config``), yielding each layer's progress; a refusal raises
        :class:`Unauthorized`, anything else :class:`RuntimeFailure` with Docker's message."""
        auth = auth or {"username": "_", "password": token}
        for chunk in self._d.api.push(
            repo, tag="latest", stream=True, decode=True, auth_config=auth
        ):
            if "error" in chunk:
                message = chunk["error"]
                if "denied" in message or "unauthorized" in message:
                    raise Unauthorized(f"Push to {repo} refused: {message}")
                raise RuntimeFailure(message)
            layer, detail = chunk.get("id"), chunk.get("progressDetail") or {}
            if not layer or len(layer) != LAYER_ID_CHARS:
                continue
            status = chunk.get("status", "")
            if status in DONE:
                yield LayerProgress(layer, status, done=True)
            elif detail.get("total"):
                yield LayerProgress(layer, status, detail.get("current", 0), detail["total"])
            else:
                yield LayerProgress(layer, status)

    def image_id(self, ref: str) -> str:
        """The engine's id of image ``ref`` (docker-py's ImageNotFound when it has none)."""
        return str(self._d.images.get(ref).id)


def _relative(context: Path, dockerfile: Path) -> str:
    """The Dockerfile's path as the engine takes it: relative to the context."""
    try:
        return str(dockerfile.relative_to(context))
    except ValueError:
        return dockerfile.name


def image_id(ref: str) -> str:
    """The local engine's id of image ``ref`` ("" when it has no such image): asked on its
    unix socket with httpx, which ``moor`` has loaded already (importing docker-py took
    0.06 s of every ``container:release``); an engine elsewhere (``DOCKER_HOST`` tcp:// or
    ssh://) through docker-py."""
    found = _socket_image_id(ref)
    if found is None:
        try:
            found = LocalDocker().image_id(ref)
        except Exception:  # no engine, or docker.errors.ImageNotFound (imported lazily)
            found = ""
    return found


def _socket_image_id(ref: str) -> str | None:
    """``GET /images/<ref>/json`` on the engine's unix socket: its id, "" when it has no such
    image, None when the engine is not on a unix socket."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        return None
    import httpx

    transport = httpx.HTTPTransport(uds=host.removeprefix("unix://"))
    try:
        with httpx.Client(transport=transport, timeout=30) as engine:
            resp = engine.get(f"http://docker/images/{quote(ref, safe='')}/json")
    except httpx.HTTPError as exc:
        raise RuntimeFailure(f"Docker does not answer ({exc}). Start dockerd first.") from exc
    if resp.status_code == 404:
        return ""
    if resp.status_code != 200:
        raise RuntimeFailure(f"Docker could not inspect {ref}: {resp.text.strip()}")
    return str(resp.json()["Id"])
