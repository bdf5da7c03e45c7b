"""The one-host runtime: dynos are Docker containers, one bridge network per app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import secrets
import shlex
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import httpx
from docker.models.containers import Container
from docker.types import LogConfig

from moorage.errors import Conflict, RuntimeFailure
from moorage.runtime import cgroups, enginelogs, portmap, subnets, volumes
from moorage.runtime.base import Observed
from moorage.runtime.dockerevents import close_when, to_dyno_event
from moorage.runtime.engineops import (
    container_stats,
    host_listening,
    http_ok,
    read_container_file,
    tcp_open,
    untag_images,
)
from moorage.runtime.listing import ContainerCache
from moorage.runtime.users import dyno_user, names_needed, read_from_tar
from moorage.spec.dyno import Dyno, DynoEvent, DynoSpec, DynoStats, OneOffSpec
from moorage.spec.status import DynoState

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from moorage.runtime.session import TtySession

LABEL = "moorage"
RETIRING = ".retiring-"
READ_ONLY_TMP_MB = 64  # the writable /tmp of a dyno whose root filesystem is read-only
DYNO_TMP = "/tmp"  # noqa: S108 (a path inside the dyno: a tmpfs of its own, not the host's /tmp)


def _label(c: Container, key: str, default: str = "") -> str:
    labels: dict[str, str] = c.labels or {}
    return labels.get(f"{LABEL}.{key}", default)


class DockerRuntime:
    """Docker Engine through docker-py. ``instance`` keeps two platforms on one engine apart."""

    def __init__(
        self,
        instance: str,
        registry_host: str,
        pull_token: Callable[[str], str],
        client: docker.DockerClient | None = None,
        subnet_pool: subnets.SubnetPool | None = None,
    ) -> None:
        self.instance = instance
        self.registry_host = registry_host
        self.subnets = subnet_pool  # None: Docker's default pools (tests of the runtime)
        self._pull_token = pull_token
        self._network_lock = threading.Lock()
        self._users: dict[tuple[str, str], str] = {}  # (image id, USER) -> uid:gid
        self._log_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient | None] = {}
        try:
            self.client = client or docker.from_env(timeout=120)
            self.client.ping()
            self._listing = ContainerCache(self.client)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(
                f"Docker Engine does not answer: {exc}. Is dockerd running?"
            ) from exc

    # -- naming -----------------------------------------------------------------------------
    def network_name(self, app: str) -> str:
        return f"moorage-{app}" if self.instance == "default" else f"moorage-{self.instance}-{app}"

    def group_network_name(self, group: str) -> str:
        base = f"moorage-g-{group}"
        return base if self.instance == "default" else f"moorage-{self.instance}-g-{group}"

    def _filters(self, **labels: str) -> dict[str, Any]:
        pairs = [f"{LABEL}.instance={self.instance}"] + [
            f"{LABEL}.{k}={v}" for k, v in labels.items()
        ]
        return {"label": pairs}

    # -- observation ------------------------------------------------------------------------
    def _containers(self, **labels: str) -> list[Container]:
        return self._listing.list(self._filters(**labels))

    def _to_dyno(self, c: Container) -> Dyno:
        attrs = c.attrs
        state = attrs.get("State", {})
        status = state.get("Status", "")
        networks = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
        net = networks.get(self.network_name(_label(c, "app")), {})
        port = _label(c, "port")
        oneoff = _label(c, "oneoff") == "1"
        ended = status in ("exited", "dead", "restarting")
        if status == "running":
            mapped = DynoState.UP
        elif status == "created":
            mapped = DynoState.STARTING
        else:
            mapped = DynoState.DOWN if oneoff and status != "restarting" else DynoState.CRASHED
        cmd = attrs.get("Config", {}).get("Cmd") or []
        return Dyno(
            id=c.id or "",
            app=_label(c, "app"),
            type=_label(c, "type"),
            number=int(_label(c, "number", "0")),
            release=int(_label(c, "release", "0")),
            fingerprint=_label(c, "fingerprint"),
            state=mapped,
            ip=net.get("IPAddress") or None,
            port=int(port) if port else None,
            created_at=attrs.get("Created", "")[:19] + "Z",
            exit_code=state.get("ExitCode") if ended else None,
            oom_killed=bool(state.get("OOMKilled")),
            started_at=str(state.get("StartedAt", "")),
            oneoff=oneoff,
            attached=_label(c, "attached") == "1",
            command=shlex.join(cmd) if isinstance(cmd, list) else str(cmd),
            restart_count=int(attrs.get("RestartCount") or 0),
            never_started=status == "created",
        )

    def observe(self) -> Observed:
        containers = self._containers()
        return Observed(
            dynos=[self._to_dyno(c) for c in containers if RETIRING not in (c.name or "")],
            retiring=[self._to_dyno(c) for c in containers if RETIRING in (c.name or "")],
            apps=self.apps(containers),
        )

    def hand_over_node(self, hostname: str) -> None:
        """One host: no node ever leaves."""

    def list_dynos(self) -> list[Dyno]:
        return [self._to_dyno(c) for c in self._containers() if RETIRING not in (c.name or "")]

    def apps(self, containers: list[Container] | None = None) -> set[str]:
        containers = self._containers() if containers is None else containers
        names = {_label(c, "app") for c in containers}
        try:
            nets = self.client.networks.list(filters=self._filters())
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Docker Engine failed to list networks: {exc}") from exc
        names |= {n.attrs.get("Labels", {}).get(f"{LABEL}.app", "") for n in nets}
        names |= {app for app, _ in volumes.listed(self.client, self.instance)}
        return {n for n in names if n}

    def host_gateway_ip(self) -> str:
        try:
            config = self.client.networks.get("bridge").attrs["IPAM"]["Config"][0]
            if config.get("Gateway"):
                return str(config["Gateway"])
            return str(ipaddress.ip_network(config["Subnet"]).network_address + 1)
        except (docker.errors.DockerException, KeyError, IndexError, ValueError) as exc:
            raise RuntimeFailure(f"Cannot read Docker's bridge network: {exc}") from exc

    # -- actions ----------------------------------------------------------------------------
    def _ensure_network(self, app: str) -> str:
        """The id of the app's network, made on first use (dynos boot in parallel: one lock,
        exact names, so two boots never make two networks of the same name)."""
        labels = {f"{LABEL}.instance": self.instance, f"{LABEL}.app": app}
        return self._network(self.network_name(app), labels, internal=False)

    def _network(self, name: str, labels: dict[str, str], *, internal: bool) -> str:
        try:
            with self._network_lock:
                return subnets.ensure_network(
                    self.client,
                    self.subnets,
                    name,
                    driver="bridge",
                    internal=internal,
                    labels=labels,
                )
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot create network {name}: {exc}") from exc

    def _join_group(self, c: Container, group: str | None, aliases: tuple[str, ...]) -> None:
        """Connect a created container to its group's private network (internal: no way
        out but the app network) under ``aliases``; the network is made on first use."""
        if not group:
            return
        labels = {f"{LABEL}.instance": self.instance, f"{LABEL}.group": group}
        net_id = self._network(self.group_network_name(group), labels, internal=True)
        try:
            self.client.networks.get(net_id).connect(c, aliases=list(aliases) or None)
        except docker.errors.DockerException as exc:
            c.remove(force=True)
            raise RuntimeFailure(
                f"Cannot join the private network of group {group}: {exc}"
            ) from exc

    def _prune_groups(self) -> None:
        """Remove group networks no container uses any more."""
        for net in self.client.networks.list(
            filters={"label": [f"{LABEL}.instance={self.instance}", f"{LABEL}.group"]}
        ):
            net.reload()
            if not net.attrs.get("Containers"):
                net.remove()

    def _ensure_image(self, ref: str) -> Any:
        """The image ``ref``, pulled from the platform registry if needed."""
        try:
            try:
                image = self.client.images.get(ref)
            except docker.errors.ImageNotFound:
                repo = ref.split("/", 1)[1].split("@", 1)[0]
                image = self.client.images.pull(
                    ref, auth_config={"registrytoken": self._pull_token(repo)}
                )
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot get image {ref}: {exc}") from exc
        return image

    def _user(self, ref: str) -> str:
        """``uid:gid`` for dynos of ``ref``: its USER resolved in its own files, never 0."""
        image = self._ensure_image(ref)
        image_user = str(image.attrs.get("Config", {}).get("User") or "")
        if not names_needed(image_user):
            return dyno_user(image_user)
        key = (str(image.id), image_user)
        if key not in self._users:
            files = [self._image_file(str(image.id), f) for f in ("/etc/passwd", "/etc/group")]
            self._users[key] = dyno_user(image_user, *files)
        return self._users[key]

    def _image_file(self, image_id: str, path: str) -> str:
        """A small file of an image, read from a container that is created, never started."""
        try:
            box = self.client.containers.create(image_id, command=["true"], network_disabled=True)
        except docker.errors.DockerException:
            return ""
        try:
            stream, _ = box.get_archive(path)
            return read_from_tar(b"".join(stream))
        except docker.errors.DockerException:
            return ""  # no such file: only numeric users resolve
        finally:
            box.remove(force=True)

    def _labels(self, app: str, ptype: str, number: int, release: int) -> dict[str, str]:
        return {
            f"{LABEL}.instance": self.instance,
            f"{LABEL}.app": app,
            f"{LABEL}.type": ptype,
            f"{LABEL}.number": str(number),
            f"{LABEL}.release": str(release),
        }

    @staticmethod
    def _limits(memory_mb: int, cpus: float, pids: int, read_only: bool = False) -> dict[str, Any]:
        """Unprivileged, bounded: no capabilities, no setuid gains, memory/CPU/pids limits;
        ``read_only``: the image's filesystem cannot be written, ``/tmp`` is a small tmpfs
        (Docker's defaults: ``nosuid,nodev,noexec``; it counts against the memory limit)."""
        files: dict[str, Any] = (
            {"read_only": True, "tmpfs": {DYNO_TMP: f"size={READ_ONLY_TMP_MB}m"}}
            if read_only
            else {}
        )
        return {
            **files,
            "mem_limit": f"{memory_mb}m",
            "memswap_limit": f"{memory_mb}m",
            "nano_cpus": int(cpus * 1e9),
            "pids_limit": pids,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "log_config": LogConfig(type="json-file", config={"max-size": "20m", "max-file": "3"}),
            "init": True,
        }

    def _container_args(
        self, spec: DynoSpec | OneOffSpec, labels: dict[str, str]
    ) -> dict[str, Any]:
        """What every dyno container gets: name, app network, user, env, labels, limits."""
        return {
            "name": spec.name,
            "hostname": spec.label,
            "environment": spec.env,
            "labels": labels,
            "network": self._ensure_network(spec.app),
            "user": self._user(spec.image),
            **self._limits(spec.memory_mb, spec.cpus, spec.pids_limit, spec.read_only),
        }

    @staticmethod
    @contextmanager
    def _starting(name: str) -> Iterator[None]:
        try:
            yield
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise Conflict(f"Dyno {name} already exists.") from exc
            raise RuntimeFailure(f"Cannot start dyno {name}: {exc.explanation}") from exc
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot start dyno {name}: {exc}") from exc

    def start(self, spec: DynoSpec) -> Dyno:
        labels = self._labels(spec.app, spec.type, spec.number, spec.release)
        labels[f"{LABEL}.fingerprint"] = spec.fingerprint()
        labels[f"{LABEL}.port"] = str(spec.port or "")
        if spec.ports:
            labels[portmap.LABEL_KEY] = portmap.label(spec.ports)
        with self._starting(spec.name):
            args = self._container_args(spec, labels)
            if spec.volumes:
                owner = (args["user"], spec.image)
                args["mounts"] = volumes.mounts(
                    self.client, self.instance, spec.app, spec.volumes, owner
                )
            c = self.client.containers.create(
                spec.image,
                command=spec.command,
                entrypoint=spec.entrypoint,
                extra_hosts=spec.extra_hosts or None,
                # the engine restarts crashed dynos itself (100 ms doubling to 1 min, reset
                # after 10 s up), so crash recovery needs no control plane
                restart_policy={"Name": "always"},
                **args,
            )
            self._join_group(c, spec.group, spec.aliases)
            c.start()
            c.reload()
        self._map_ports(c)
        return self._to_dyno(c)

    def _map_ports(self, c: Container) -> None:
        """The dyno's Service ports (runtime/portmap.py), after each start."""
        pairs = portmap.parse((c.labels or {}).get(portmap.LABEL_KEY, ""))
        pid = int((c.attrs.get("State") or {}).get("Pid") or 0)
        if pairs and pid:
            failed = portmap.redirect(pid, pairs)
            if failed:
                log.warning("service ports of %s not mapped: %s", c.name, failed)

    def start_oneoff(self, spec: OneOffSpec) -> Dyno:
        labels = self._labels(spec.app, spec.type, spec.number, spec.release)
        labels[f"{LABEL}.oneoff"] = "1"
        labels[f"{LABEL}.attached"] = "1" if spec.attach else "0"
        with self._starting(spec.name):
            c = self.client.containers.create(
                spec.image,
                command=spec.command or None,
                stdin_open=spec.attach,
                tty=spec.tty and spec.attach,
                **self._container_args(spec, labels),
            )
            try:
                self._join_group(c, spec.group, ())
                if not spec.attach:
                    c.start()
                c.reload()
            except docker.errors.DockerException:
                c.remove(force=True)  # a created container must not outlive its failed start
                raise
        return self._to_dyno(c)

    def wait_exit(self, dyno_id: str, timeout: float | None = None) -> int:
        try:
            result = self.client.containers.get(dyno_id).wait(timeout=timeout)
        except docker.errors.NotFound:
            return 255
        except Exception as exc:  # requests' ReadTimeout is not a DockerException
            raise RuntimeFailure(f"Waiting for {dyno_id[:12]} failed: {exc}") from exc
        return int(result.get("StatusCode", 255))

    def open_exec(
        self, dyno: Dyno, cmd: list[str], *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        from moorage.runtime import session

        return session.open_exec(self.client, dyno.id, cmd, tty=tty, rows=rows, cols=cols)

    def open_attach(
        self, dyno: Dyno, *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        from moorage.runtime import session

        return session.open_attach(self.client, dyno.id, tty=tty, rows=rows, cols=cols)

    def stats(self, dyno: Dyno) -> DynoStats | None:
        return cgroups.read_stats(dyno.id, dyno) or container_stats(self.client, dyno.id, dyno)

    def prefetch(self, reference: str, auth: dict[str, str] | None) -> bool:
        try:
            self.client.images.pull(reference, auth_config=auth)
        except docker.errors.DockerException as exc:
            log.info("prefetch of %s failed (the rollout pulls it): %s", reference, exc)
            return False
        return True

    def forget_prefetched(self, reference: str) -> None:
        with contextlib.suppress(docker.errors.DockerException):
            self.client.images.remove(reference)

    def probe(self, dyno: Dyno, path: str | None) -> bool:
        """One readiness check: TCP connect to the port, or GET ``path`` below 400."""
        if not dyno.port:
            return True
        if not dyno.ip:
            return False
        if path is None:
            return tcp_open(dyno.ip, dyno.port)
        return http_ok(dyno.ip, dyno.port, path)

    def wait_ready(self, dyno: Dyno, timeout: float, path: str | None = None) -> str | None:
        if not dyno.port:  # workers have no check: a crash is the engine's to restart
            return None
        deadline = time.monotonic() + timeout
        check = f"answer GET {path}" if path else f"bind port {dyno.port}"
        current, looked = dyno, 0.0
        while time.monotonic() < deadline:
            # the engine is asked every half second (has it crashed?), the port every 20 ms
            # (a refused connect costs microseconds; a check path, a request, every 100 ms)
            if current.state != DynoState.UP or time.monotonic() - looked >= 0.5:
                try:
                    c = self.client.containers.get(dyno.id)
                except docker.errors.DockerException as exc:
                    return f"dyno {dyno.name} vanished: {exc}"
                current, looked = self._to_dyno(c), time.monotonic()
                if current.state == DynoState.CRASHED or current.restart_count > 0:
                    tail = c.logs(tail=5).decode(errors="replace").strip()
                    code = current.exit_code if current.exit_code is not None else "?"
                    return f"{dyno.name} exited with status {code} before it could {check}: {tail}"
            if current.state == DynoState.UP and self.probe(current, path):
                return None
            time.sleep(0.02 if path is None else 0.1)
        return f"{dyno.name} did not {check} within {timeout:.0f}s (boot timeout)"

    def read_file(self, dyno: Dyno, path: str, limit: int) -> bytes:
        return read_container_file(self.client, dyno.id, path, limit)

    def listening(self, dyno: Dyno) -> list[int] | None:
        try:
            c = self.client.containers.get(dyno.id)
        except docker.errors.DockerException:
            return None
        pid = int((c.attrs.get("State") or {}).get("Pid") or 0)
        return host_listening(pid) if pid else None

    def retire(self, dyno: Dyno) -> Dyno:
        try:
            c = self.client.containers.get(dyno.id)
            c.rename(f"{dyno.name}{RETIRING}{secrets.token_hex(3)}")
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot retire {dyno.name}: {exc}") from exc
        return dyno

    def unretire(self, dyno: Dyno) -> None:
        try:
            self.client.containers.get(dyno.id).rename(dyno.name)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot restore {dyno.name}: {exc}") from exc

    def stop(self, dyno_id: str, grace: float) -> None:
        try:
            c = self.client.containers.get(dyno_id)
            if c.status == "running":
                c.stop(timeout=int(grace))
            c.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in str(exc):
                return  # another stop of the same dyno is removing it
            raise RuntimeFailure(f"Cannot stop dyno {dyno_id[:12]}: {exc}") from exc
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot stop dyno {dyno_id[:12]}: {exc}") from exc

    def remove_app(self, app: str) -> None:
        for c in self._containers(app=app):
            self.stop(c.id or "", grace=10)
        for (owner, _), full in volumes.listed(self.client, self.instance).items():
            if owner == app:
                volumes.remove(self.client, full)
        try:
            for n in self.client.networks.list(filters=self._filters(app=app)):
                n.remove()
            self._prune_groups()
            untag_images(self.client, f"{self.registry_host}/{app}/")
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot remove resources of {app}: {exc}") from exc

    # -- volumes ----------------------------------------------------------------------------
    def volumes(self) -> set[tuple[str, str]]:
        return set(volumes.listed(self.client, self.instance))

    def remove_volume(self, app: str, name: str) -> bool:
        return volumes.remove(self.client, volumes.volume_name(self.instance, app, name))

    def volume_usage(self) -> dict[tuple[str, str], int]:
        return volumes.usage(self.client, self.instance)

    def export_volume(self, app: str, name: str, image: str) -> Iterator[bytes]:
        return volumes.export(self.client, volumes.volume_name(self.instance, app, name), image)

    def import_volume(self, app: str, name: str, image: str, tar: bytes) -> None:
        user = self._user(image)
        full = volumes.ensure(self.client, self.instance, app, name, (user, image))
        volumes.restore(self.client, full, image, tar, user)

    # -- streams ----------------------------------------------------------------------------
    def watch(self, on_event: Callable[[DynoEvent], None], stop: threading.Event) -> None:
        """Call ``on_event`` for every dyno start/die until ``stop`` is set; reconnects."""
        filters = {
            "type": "container",
            "label": [f"{LABEL}.instance={self.instance}"],
            "event": ["start", "die"],
        }
        while not stop.is_set():
            try:
                stream = self.client.events(decode=True, filters=filters)
                self._listing.forget_all()  # what changed while nobody watched
                for c in self._containers():  # restarted while nobody watched
                    if c.status == "running":
                        self._map_ports(c)
                on_event(DynoEvent.resync(time.time()))
                closer = threading.Thread(target=close_when, args=(stop, stream), daemon=True)
                closer.start()
                for ev in stream:
                    self._listing.forget(str(ev.get("id", "")))
                    if ev.get("Action") == "start" and portmap.LABEL_KEY in str(ev):
                        with contextlib.suppress(docker.errors.DockerException):
                            self._map_ports(self.client.containers.get(str(ev.get("id"))))
                    on_event(to_dyno_event(ev))
            except Exception:  # the engine restarted or the stream broke: reconnect
                if stop.wait(1.0):
                    return

    async def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        """(RFC 3339 timestamp, line) pairs of a dyno's output from ``since``, following it
        (on the caller's event loop: see :mod:`moorage.runtime.enginelogs`)."""
        client = self.log_client()
        if client is None:
            stream = functools.partial(enginelogs.blocking_container_logs, self.client, dyno_id)
            async for entry in enginelogs.bridged(lambda: stream(since)):
                yield entry
            return
        tty = await enginelogs.is_tty(client, "container", dyno_id)
        if tty is None:
            raise RuntimeFailure(f"Cannot read the log of {dyno_id[:12]}: no such container")
        async for entry in enginelogs.follow(client, "container", dyno_id, since, tty):
            yield entry

    def log_client(self) -> httpx.AsyncClient | None:
        """The asyncio client of the running event loop (one per loop: a client's
        connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        if self._log_clients.get(loop) is None:
            self._log_clients = {loop: enginelogs.async_client(self.client.api)}
        return self._log_clients[loop]
