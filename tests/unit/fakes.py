"""Fakes at the seams (runtime, router, registry); integration tests use the real parts."""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace

from moorage.errors import ImageNotPushed, InvalidParams
from moorage.registry.client import PushedImage
from moorage.runtime.base import Observed
from moorage.spec.dyno import Dyno, DynoEvent, DynoSpec, DynoStats, OneOffSpec, Route


class FakeRegistry:
    host = "registry.test"

    def __init__(self) -> None:
        self.images: dict[str, PushedImage] = {}
        self.deleted: list[str] = []
        self.full: str | None = None  # what nearly_full() says

    def nearly_full(self) -> str | None:
        return self.full

    def filled_during_push(self, repository: str) -> str:
        return f"The registry's disk is full: an upload to {repository} failed."

    def push(self, app: str, ptype: str, n: int) -> str:
        image = PushedImage(f"{app}/{ptype}", f"sha256:{'m' * 63}{n}", f"sha256:{'c' * 63}{n}")
        self.images[f"{app}/{ptype}"] = image
        return image.config_digest

    def latest(self, app: str, ptype: str) -> PushedImage:
        if f"{app}/{ptype}" not in self.images:
            raise ImageNotPushed(
                f"No image for {ptype}. Run `moor container:push {ptype} -a {app}` first."
            )
        return self.images[f"{app}/{ptype}"]

    def reference(self, image: PushedImage) -> str:
        return f"{self.host}/{image.repository}@{image.manifest_digest}"

    def delete_app(self, app: str) -> None:
        self.deleted.append(app)

    def copy_image(self, reference: str, repository: str) -> str:
        return f"{self.host}/{repository}@{reference.rsplit('@', 1)[1]}"

    def pull_token(self, repo: str) -> str:
        return "t"


class FakeRuntime:
    """Keeps dynos in a dict; ``broken_images`` never become ready."""

    def __init__(self) -> None:
        self.dynos: dict[str, Dyno] = {}
        self.retired: dict[str, Dyno] = {}
        self.broken_images: set[str] = set()
        self.removed_apps: list[str] = []
        self.stopped: list[str] = []
        self.oneoffs: list[OneOffSpec] = []
        self.exit_codes: dict[str, int] = {}  # one-off command[0] -> exit status
        self._ids = itertools.count(1)
        self._ips = itertools.count(0)  # every dyno its own address, as Docker gives
        self.held: set[tuple[str, str]] = set()  # volumes: (app, name)
        self.events: list[str] = []  # "start <name>", "stop <id>", "retire <id>", in order
        self.ports_heard: dict[str, list[int]] = {}  # dyno name -> ports it listens on
        self.leaving: set[str] = set()  # nodes being drained (the swarm runtime's label)
        self.placed_late = False  # start() answers before the dyno runs, as Swarm's does

    def list_dynos(self) -> list[Dyno]:
        return list(self.dynos.values())

    def prefetch(self, reference: str, auth: dict[str, str] | None) -> bool:
        return False

    def forget_prefetched(self, reference: str) -> None:
        return None

    def stats(self, dyno: Dyno) -> DynoStats | None:
        if dyno.state != "up":
            return None
        return DynoStats(dyno.app, f"{dyno.type}.{dyno.number}", 50 << 20, 512 << 20, 1.5)

    def start(self, spec: DynoSpec) -> Dyno:
        self.events.append(f"start {spec.name}")
        self.held |= {(spec.app, v.name) for v in spec.volumes}
        dyno = Dyno(
            id=f"c{next(self._ids)}",
            app=spec.app,
            type=spec.type,
            number=spec.number,
            release=spec.release,
            fingerprint=spec.fingerprint(),
            state="up",
            ip=f"10.0.0.{next(self._ips) % 250 + 2}",
            port=spec.port,
            created_at="now",
            started_at="t0",
        )
        if spec.image in self.broken_images:
            dyno = replace(dyno, state="crashed", exit_code=1)
        self.dynos[spec.name] = dyno
        if self.placed_late:  # no address or start time yet: the task is being placed
            return replace(dyno, state="starting", ip=None, port=None, started_at="")
        return dyno

    def start_oneoff(self, spec: OneOffSpec) -> Dyno:
        self.oneoffs.append(spec)
        self.dynos[spec.name] = dyno = Dyno(
            id=f"o{next(self._ids)}",
            app=spec.app,
            type=spec.type,
            number=spec.number,
            release=spec.release,
            fingerprint="",
            state="up",
            ip=None,
            port=None,
            created_at="now",
            oneoff=True,
        )
        return dyno

    def wait_exit(self, dyno_id: str, timeout: float | None = None) -> int:
        spec = self.oneoffs[-1]
        return self.exit_codes.get(spec.command[0], 0)

    def probe(self, dyno: Dyno, path: str | None) -> bool:
        return dyno.state == "up"

    def wait_ready(self, dyno: Dyno, timeout: float, path: str | None = None) -> str | None:
        return "exited with status 1" if dyno.state == "crashed" else None

    def watch(self, on_event: Callable[[DynoEvent], None], stop: threading.Event) -> None:
        stop.wait()

    async def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        for entry in ():
            yield entry

    def open_exec(self, *args: object, **kwargs: object) -> object:
        raise NotImplementedError

    def open_attach(self, *args: object, **kwargs: object) -> object:
        raise NotImplementedError

    def retire(self, dyno: Dyno) -> Dyno:
        self.events.append(f"retire {dyno.id}")
        self.retired[dyno.id] = self.dynos.pop(dyno.name)
        return dyno

    def observe(self) -> Observed:
        seen = Observed(self.list_dynos(), self.list_retiring(), self.apps())
        return replace(seen, leaving=frozenset(self.leaving))

    def hand_over_node(self, hostname: str) -> None:
        self.events.append(f"hand over {hostname}")
        self.leaving.discard(hostname)

    def list_retiring(self) -> list[Dyno]:
        return list(self.retired.values())

    def unretire(self, dyno: Dyno) -> None:
        self.dynos[dyno.name] = self.retired.pop(dyno.id)

    def stop(self, dyno_id: str, grace: float) -> None:
        self.events.append(f"stop {dyno_id}")
        self.stopped.append(dyno_id)
        self.retired.pop(dyno_id, None)
        for name, d in list(self.dynos.items()):
            if d.id == dyno_id:
                del self.dynos[name]

    def remove_app(self, app: str) -> None:
        self.removed_apps.append(app)
        self.dynos = {n: d for n, d in self.dynos.items() if d.app != app}

    def apps(self) -> set[str]:
        return {d.app for d in self.dynos.values()}

    def host_gateway_ip(self) -> str:
        return "10.0.0.1"

    def listening(self, dyno: Dyno) -> list[int] | None:
        return self.ports_heard.get(dyno.name)

    def volumes(self) -> set[tuple[str, str]]:
        return set(self.held)

    def remove_volume(self, app: str, name: str) -> bool:
        if any(d.app == app for d in self.dynos.values()):
            return False  # in use (the fake does not track mounts per dyno)
        self.held.discard((app, name))
        return True

    def volume_usage(self) -> dict[tuple[str, str], int]:
        return dict.fromkeys(self.held, 4096)

    def export_volume(self, app: str, name: str, image: str) -> Iterator[bytes]:
        return iter((b"tar",))

    def import_volume(self, app: str, name: str, image: str, tar: bytes) -> None:
        self.held.add((app, name))


class FakeRouter:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.applied = 0
        self.apply_seconds = 0.0

    def apply(self, routes: list[Route]) -> bool:
        self.applied += 1
        self.routes = routes
        return True

    def running(self) -> bool:
        return True

    def stats(self) -> dict[str, dict[str, float]]:
        return {}


class FakeProvider:
    """An add-on provider that keeps its resources in a dict (the Provider contract)."""

    def __init__(self, service: str = "postgresql", attachment: str = "DATABASE") -> None:
        self.service = service
        self.attachment = attachment
        self.resources: dict[str, list[str]] = {}  # resource -> valid URLs
        self.started: list[list[str]] = []

    def _url(self, resource: str) -> str:
        n = sum(len(v) for v in self.resources.values())
        return f"{self.service}://u{n}:pw{n}@db.test:1/{resource}"

    def plan_name(self, plan: str) -> str:
        name = plan.partition(":")[2] or "mini"
        if name not in ("mini", "basic"):
            raise InvalidParams(f"Unknown {self.service} plan {name!r}.")
        return f"{self.service}:mini"

    def provision(self, resource: str, plan: str = "") -> str:
        url = self._url(resource)
        self.resources[resource] = [url]
        return url

    def deprovision(self, resource: str) -> None:
        self.resources.pop(resource, None)

    def rotate(self, resource: str, current_url: str) -> str:
        url = self._url(resource)
        self.resources[resource].append(url)
        return url

    def retire(self, resource: str, keep_url: str) -> None:
        self.resources[resource] = [keep_url]

    def info(self, resource: str) -> dict[str, str]:
        return {"Status": "Available", "Resource": resource}

    def ensure_running(self, resources: list[str]) -> None:
        self.started.append(list(resources))
