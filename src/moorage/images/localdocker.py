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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from moorage.errors import BuildCancelled, BuildFailed, RuntimeFailure, Unauthorized

if TYPE_CHECKING:
    import docker

LAYER_ID_CHARS = 12  # Docker shows layers by the first 12 characters of their digest
DONE = ("Pushed", "Layer already exists")
RUNNING_IN = " ---> Running in "  # the legacy builder names each RUN step's container
OOM_EXIT = 137  # a step killed (SIGKILL): by the memory limit, or by the watch
WATCH_INTERVAL = 0.5


@dataclass(frozen=True)
class LayerProgress:
    """One layer's push progress: ``done`` once pushed (or already there); ``total`` None
    when Docker has not said how large it is."""

    layer: str
    status: str
    current: int = 0
    total: int | None = None
    done: bool = False


class _StepFailed(BuildFailed):
    """A build step that ended with a non-zero ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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
        stop: threading.Event | None = None,
        time_limit: float | None = None,
    ) -> Iterator[str]:
        """Build ``dockerfile`` (in ``context``) as ``tag``, yielding the output lines;
        :class:`BuildFailed` names the step that failed. ``limits``: docker-py's
        ``container_limits`` of each RUN step's container (memory, cpushares...): a step
        killed for using more memory fails saying so. ``timeout``: seconds the whole build
        may take; then, or once ``stop`` is set (:class:`BuildCancelled`), the running step's
        container is killed, even when the step prints nothing, and the build ends
        (``time_limit``: the limit the error names, when ``timeout`` is what is left of it)."""
        deadline = time.monotonic() + timeout if timeout else None
        started = int(time.time()) - 1
        stream = self._d.api.build(
            path=str(context),
            dockerfile=_relative(context, dockerfile),
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            buildargs=buildargs or None,
            container_limits=limits or None,  # type: ignore[arg-type]
            timeout=int(timeout) + 60 if timeout else None,  # HTTP reads; the watch comes first
        )
        watch = _Watch(self._d, deadline, stop)
        try:
            with watch:
                yield from self._lines(stream, watch, dockerfile.name)
        except _StepFailed as exc:
            if exc.code == OOM_EXIT and (limits or {}).get("memory") and self._oom(started, watch):
                raise BuildFailed(_out_of_memory(dockerfile.name, watch.step, limits)) from exc
            raise
        except Exception as exc:  # requests' errors: the engine stopped answering
            if watch.reason or (deadline is not None and time.monotonic() >= deadline):
                raise watch.error(dockerfile.name, time_limit or timeout) from exc
            raise RuntimeFailure(f"Docker stopped answering during the build: {exc}") from exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a build cut short: the engine cancels it when the stream closes
        if watch.reason:
            raise watch.error(dockerfile.name, time_limit or timeout)

    def _lines(self, stream: Iterator[dict[str, Any]], watch: _Watch, name: str) -> Iterator[str]:
        for chunk in stream:
            if watch.reason:
                return
            text = chunk.get("stream", "")
            if text.startswith("Step "):
                watch.step = text.strip()
            elif text.startswith(RUNNING_IN):
                watch.container = text.removeprefix(RUNNING_IN).strip()
            if text.strip():
                yield text.rstrip("\n")
            if "error" in chunk:
                if watch.reason:
                    return
                detail = chunk.get("errorDetail") or {}
                raise _StepFailed(
                    f"Build of {name} failed at {watch.step or 'the first step'}: "
                    f"{chunk['error'].strip()}. The app keeps running its current release.",
                    int(detail.get("code") or 0),
                )

    def _oom(self, since: int, watch: _Watch) -> bool:
        """Whether the engine reported the build step's container out of memory."""
        if not watch.container:
            return False
        try:
            events = self._d.api.events(
                since=since, until=int(time.time()) + 1, filters={"event": "oom"}, decode=True
            )
            return any(str(e.get("id", "")).startswith(watch.container) for e in events)
        except Exception:  # the events are a diagnosis only
            return False

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


class _Watch:
    """Stops a build the engine runs: at the deadline, or once ``stop`` is set, it kills the
    running step's container (the step ends with 137, the engine ends the build and removes
    the container, ``forcerm``) and keeps doing so for any later step until the build's
    stream is left; the container is removed then, whatever the engine did."""

    def __init__(
        self, engine: docker.DockerClient, deadline: float | None, stop: threading.Event | None
    ) -> None:
        self._api, self.deadline, self.stop = engine.api, deadline, stop
        self.step = ""
        self.container = ""  # the running step's (from "Running in <id>")
        self.reason = ""  # "timeout" or "cancelled" once stopped
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="build-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)
        if self.reason and self.container:
            self._kill(remove=True)

    def _run(self) -> None:
        while not self._done.is_set():
            if not self.reason and self.stop is not None and self.stop.is_set():
                self.reason = "cancelled"
            elif not self.reason and self.deadline and time.monotonic() >= self.deadline:
                self.reason = "timeout"
            if self.reason and self.container:
                self._kill(remove=False)
            self._done.wait(WATCH_INTERVAL)

    def _kill(self, *, remove: bool) -> None:
        import docker.errors

        try:
            if remove:
                self._api.remove_container(self.container, force=True)
            else:
                self._api.kill(self.container)
        except docker.errors.APIError:
            pass  # gone already (the engine removes a failed step's container)

    def error(self, name: str, timeout: float | None) -> BuildFailed:
        where = self.step or "the first step"
        if self.reason == "cancelled":
            return BuildCancelled(f"Build of {name} was cancelled at {where}.")
        return BuildFailed(
            f"Build of {name} exceeded its time limit of {timeout or 0:.0f}s and was stopped at "
            f"{where}. Make the build faster (or ask the platform's operator for a longer "
            "limit); the app keeps running its current release."
        )


def _out_of_memory(name: str, step: str, limits: dict[str, int] | None) -> str:
    memory = (limits or {}).get("memory", 0)
    return (
        f"Build of {name} ran out of memory at {step or 'the first step'}: the step used more "
        f"than the build memory limit of {_mib(memory)} and was killed. Use less memory in "
        "that step (or ask the platform's operator for a higher limit); the app keeps running "
        "its current release."
    )


def _mib(size: int) -> str:
    return f"{size / (1 << 30):g} GiB" if size >= 1 << 30 else f"{size / (1 << 20):g} MiB"


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
