"""The one-host runtime: dynos are Docker containers, one bridge network per app."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import LogConfig

from moorage.errors import Conflict, RuntimeFailure
from moorage.spec.dyno import Dyno, DynoSpec

LABEL = "moorage"
RETIRING = ".retiring-"
UNPRIVILEGED_USER = "65534:65534"


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
    ) -> None:
        self.instance = instance
        self.registry_host = registry_host
        self._pull_token = pull_token
        try:
            self.client = client or docker.from_env(timeout=120)
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(
                f"Docker Engine does not answer: {exc}. Is dockerd running?"
            ) from exc

    # -- naming -----------------------------------------------------------------------------
    def network_name(self, app: str) -> str:
        return f"moorage-{app}" if self.instance == "default" else f"moorage-{self.instance}-{app}"

    def _filters(self, **labels: str) -> dict[str, Any]:
        pairs = [f"{LABEL}.instance={self.instance}"] + [
            f"{LABEL}.{k}={v}" for k, v in labels.items()
        ]
        return {"label": pairs}

    # -- observation ------------------------------------------------------------------------
    def _containers(self, **labels: str) -> list[Container]:
        try:
            found: list[Container] = self.client.containers.list(
                all=True, filters=self._filters(**labels)
            )
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Docker Engine failed to list containers: {exc}") from exc
        return found

    def _to_dyno(self, c: Container) -> Dyno:
        attrs = c.attrs
        state = attrs.get("State", {})
        status = state.get("Status", "")
        networks = attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
        net = networks.get(self.network_name(_label(c, "app")), {})
        port = _label(c, "port")
        exit_code = state.get("ExitCode") if status in ("exited", "dead") else None
        mapped = {"running": "up", "created": "starting", "restarting": "starting"}
        return Dyno(
            id=c.id or "",
            app=_label(c, "app"),
            type=_label(c, "type"),
            number=int(_label(c, "number", "0")),
            release=int(_label(c, "release", "0")),
            fingerprint=_label(c, "fingerprint"),
            state=mapped.get(status, "crashed"),
            ip=net.get("IPAddress") or None,
            port=int(port) if port else None,
            created_at=attrs.get("Created", "")[:19] + "Z",
            exit_code=exit_code,
            oom_killed=bool(state.get("OOMKilled")),
        )

    def list_dynos(self) -> list[Dyno]:
        return [self._to_dyno(c) for c in self._containers() if RETIRING not in (c.name or "")]

    def apps(self) -> set[str]:
        names = {_label(c, "app") for c in self._containers()}
        try:
            nets = self.client.networks.list(filters=self._filters())
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Docker Engine failed to list networks: {exc}") from exc
        names |= {n.attrs.get("Labels", {}).get(f"{LABEL}.app", "") for n in nets}
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
        name = self.network_name(app)
        try:
            if not self.client.networks.list(names=[name]):
                self.client.networks.create(
                    name,
                    driver="bridge",
                    labels={f"{LABEL}.instance": self.instance, f"{LABEL}.app": app},
                )
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot create network {name}: {exc}") from exc
        return name

    def _ensure_image(self, ref: str) -> str:
        """The image's configured user, pulling ``ref`` from the platform registry if needed."""
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
        return str(image.attrs.get("Config", {}).get("User") or "")

    def start(self, spec: DynoSpec) -> Dyno:
        network = self._ensure_network(spec.app)
        image_user = self._ensure_image(spec.image)
        user = image_user if image_user not in ("", "root", "0", "0:0") else UNPRIVILEGED_USER
        labels = {
            f"{LABEL}.instance": self.instance,
            f"{LABEL}.app": spec.app,
            f"{LABEL}.type": spec.type,
            f"{LABEL}.number": str(spec.number),
            f"{LABEL}.release": str(spec.release),
            f"{LABEL}.fingerprint": spec.fingerprint(),
            f"{LABEL}.port": str(spec.port or ""),
        }
        try:
            c = self.client.containers.run(
                spec.image,
                command=spec.command,
                name=spec.name,
                hostname=f"{spec.type}.{spec.number}",
                environment=spec.env,
                labels=labels,
                network=network,
                user=user,
                detach=True,
                mem_limit=f"{spec.memory_mb}m",
                memswap_limit=f"{spec.memory_mb}m",
                pids_limit=spec.pids_limit,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                extra_hosts=spec.extra_hosts or None,
                log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
                init=True,
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise Conflict(f"Dyno {spec.name} already exists.") from exc
            raise RuntimeFailure(f"Cannot start dyno {spec.name}: {exc.explanation}") from exc
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot start dyno {spec.name}: {exc}") from exc
        c.reload()
        return self._to_dyno(c)

    def wait_ready(self, dyno: Dyno, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = self.client.containers.get(dyno.id)
            except docker.errors.DockerException as exc:
                return f"dyno {dyno.name} vanished: {exc}"
            current = self._to_dyno(c)
            if current.state == "crashed":
                tail = c.logs(tail=5).decode(errors="replace").strip()
                return (
                    f"{dyno.name} exited with status {current.exit_code} "
                    f"before binding its port: {tail}"
                )
            if current.ip and current.port and _tcp_open(current.ip, current.port):
                return None
            if not current.port:
                return None
            time.sleep(0.2)
        return f"{dyno.name} did not bind port {dyno.port} within {timeout:.0f}s"

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
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot stop dyno {dyno_id[:12]}: {exc}") from exc

    def restart(self, dyno: Dyno) -> None:
        try:
            self.client.containers.get(dyno.id).start()
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot restart {dyno.name}: {exc}") from exc

    def remove_app(self, app: str) -> None:
        for c in self._containers(app=app):
            self.stop(c.id or "", grace=10)
        try:
            for n in self.client.networks.list(filters=self._filters(app=app)):
                n.remove()
            prefix = f"{self.registry_host}/{app}/"
            for image in self.client.images.list():
                refs = list(image.tags) + list(image.attrs.get("RepoDigests") or [])
                for ref in refs:
                    if ref.startswith(prefix):  # untag only: another app may share the layers
                        self.client.images.remove(ref)
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot remove resources of {app}: {exc}") from exc


def _tcp_open(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1):
            return True
    except OSError:
        return False
