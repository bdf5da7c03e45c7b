"""The many-host runtime: formation dynos are Docker Swarm services, one per dyno.

Why a service per dyno and not per process type: the reconciler's swap (start the new dyno,
pass its check, switch the router, drain the old one for 30 s) is what keeps requests from
failing, and it needs to address each dyno. Swarm's own rolling update can wait for a
container health check but not for the router. So ``web.2`` is the service
``<app>-web-2-<hex>`` with one replica: Swarm places it (spread over the nodes), pulls its
image from the platform registry on that node, restarts it when it crashes and moves it when
its node is drained or lost. Each service still carries start-first update and rollback
settings, so a ``docker service update`` by hand behaves the same way.

Networking without the ingress mesh (this kernel has no IPVS): one attachable overlay network
per app with ``dnsrr`` endpoints, so dynos find each other by name; the web port is published
in host mode on a port the node picks, and the router reaches ``<node address>:<port>``.

One-off dynos (``moor run``, release phase) are plain containers on the manager's engine,
attached to the app's overlay network: attach, exec and exit codes work as on one host.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import docker
import docker.errors

from moorage.errors import Conflict, MoorageError, NotFound, RuntimeFailure
from moorage.runtime import enginelogs, subnets, swarmvolumes
from moorage.runtime.base import Observed
from moorage.runtime.docker import LABEL, DockerRuntime
from moorage.runtime.engineops import (
    container_stats,
    http_ok,
    listening_ports,
    read_container_file,
    tcp_open,
    untag_images,
)
from moorage.runtime.swarmspec import service_args
from moorage.runtime.swarmstate import (
    FAILED,
    RUNNING,
    current_task,
    last_error,
    relaxed,
    service_dyno,
    set_availability,
    split_dynos,
    spread_constraints,
    swarm_nodes,
    task_event,
)
from moorage.spec.dyno import Dyno, DynoEvent, DynoSpec, DynoStats, Node, OneOffSpec
from moorage.spec.status import DynoState, NodeState

if TYPE_CHECKING:
    from moorage.runtime.session import TtySession

PULLING = {"new", "pending", "assigned", "accepted", "preparing"}
MAX_PULL_SECONDS = 600.0  # the boot timeout starts once the node has the image
NODE_USER = "moorage-node"
log = logging.getLogger(__name__)


class SwarmRuntime:
    """Docker Swarm through the manager's engine (``client``); add-ons on this host at
    ``addon_address``. Nodes pull images as
    ``node_registry`` names them, with ``node_auth`` (user, password) for the registry's
    token endpoint; ``node_engines`` are engines of other nodes, by hostname, for exec and
    stats of the dynos there."""

    def __init__(
        self,
        addon_address: str,
        instance: str,
        registry_host: str,
        node_registry: str,
        pull_token: Callable[[str], str],
        node_auth: tuple[str, str],
        client: docker.DockerClient,
        node_engines: dict[str, str] | None = None,
        subnet_pool: subnets.SubnetPool | None = None,
    ) -> None:
        self.addon_address = addon_address
        self.instance = instance
        self.registry_host = registry_host
        self.node_registry = node_registry
        self._node_auth = node_auth
        self.client = client
        self.api: Any = client.api  # docker-py's low-level Swarm calls are untyped
        self.local = DockerRuntime(
            instance, node_registry, pull_token, client=client, subnet_pool=subnet_pool
        )
        self.node_engines = node_engines or {}  # hostname -> engine URL
        self._engines: dict[str, docker.DockerClient] = {}
        self._app_locks: dict[str, threading.Lock] = {}
        self._logged_in = False
        self._lock = threading.Lock()
        try:
            info = client.info()
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"The Swarm manager does not answer: {exc}") from exc
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise RuntimeFailure(
                "MOORAGE_RUNTIME=swarm needs the engine at MOORAGE_SWARM_ENGINE to be a Swarm "
                "manager: run `docker swarm init` there (see docs/scaling.md)."
            )
        self.manager_node = str(swarm.get("NodeID", ""))

    # -- naming and lookups -------------------------------------------------------------------
    def network_name(self, app: str) -> str:
        return self.local.network_name(app)

    def _filters(self, **labels: str) -> dict[str, Any]:
        return self.local._filters(**labels)

    def _image(self, ref: str) -> str:
        """The image as nodes name it (the platform registry behind the edge)."""
        prefix = f"{self.registry_host}/"
        return self.node_registry + "/" + ref[len(prefix) :] if ref.startswith(prefix) else ref

    def _services(self, **labels: str) -> list[dict[str, Any]]:
        try:
            found: list[dict[str, Any]] = self.api.services(filters=self._filters(**labels))
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"The Swarm manager failed to list services: {exc}") from exc
        return found

    def _tasks(self) -> dict[str, list[dict[str, Any]]]:
        """Every task of the swarm, by service id, newest first (callers pick their own)."""
        try:
            tasks: list[dict[str, Any]] = self.api.tasks()
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"The Swarm manager failed to list tasks: {exc}") from exc
        by_service: dict[str, list[dict[str, Any]]] = {}
        for t in sorted(tasks, key=lambda t: str(t.get("CreatedAt", "")), reverse=True):
            by_service.setdefault(str(t.get("ServiceID", "")), []).append(t)
        return by_service

    def nodes(self) -> list[Node]:
        return swarm_nodes(self.client, self.manager_node)

    def _addresses(self) -> dict[str, tuple[str, str]]:
        """Node id -> (hostname, address the router reaches it on)."""
        return {n.id: (n.hostname, n.address) for n in self.nodes()}

    # -- observation --------------------------------------------------------------------------
    def _split_dynos(self, nodes: list[Node]) -> tuple[list[Dyno], list[Dyno]]:
        """The formation's dynos and the retiring ones, from one listing of each."""
        return split_dynos(self._services(), self._tasks(), nodes)

    def observe(self) -> Observed:
        nodes = self.nodes()
        current, retiring = self._split_dynos(nodes)
        oneoffs = [d for d in self.local.list_dynos() if d.oneoff]
        leaving = frozenset(n.hostname for n in nodes if n.leaving)
        return Observed(current + oneoffs, retiring, self.apps(), leaving)

    def hand_over_node(self, hostname: str) -> None:
        """Swarm's ``drain`` for a node whose dynos are out of the router: it moves them."""
        set_availability(self.client, hostname, "drain")

    def list_dynos(self) -> list[Dyno]:
        oneoffs = [d for d in self.local.list_dynos() if d.oneoff]
        return self._split_dynos(self.nodes())[0] + oneoffs

    def list_retiring(self) -> list[Dyno]:
        return self._split_dynos(self.nodes())[1]

    def apps(self) -> set[str]:
        names = {
            (s.get("Spec", {}).get("Labels") or {}).get(f"{LABEL}.app", "")
            for s in self._services()
        }
        return {n for n in names | self.local.apps() if n}

    def prefetch(self, reference: str, auth: dict[str, str] | None) -> bool:
        """Nodes pull from the platform's registry; nothing to warm on the manager."""
        return False

    def forget_prefetched(self, reference: str) -> None:
        return None

    def host_gateway_ip(self) -> str:
        """Where dynos on every node reach add-ons: the manager host's address."""
        return self.addon_address

    # -- networks -----------------------------------------------------------------------------
    def _ensure_network(self, name: str, labels: dict[str, str], *, internal: bool) -> str:
        try:
            with self._lock:
                return subnets.ensure_network(
                    self.client,
                    self.local.subnets,
                    name,
                    driver="overlay",
                    attachable=True,
                    internal=internal,
                    labels={f"{LABEL}.instance": self.instance, **labels},
                )
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot create overlay network {name}: {exc}") from exc

    def _app_network(self, app: str) -> str:
        return self._ensure_network(self.network_name(app), {f"{LABEL}.app": app}, internal=False)

    def _group_network(self, group: str) -> str:
        name = self.local.group_network_name(group)
        return self._ensure_network(name, {f"{LABEL}.group": group}, internal=True)

    # -- actions ------------------------------------------------------------------------------
    def _login(self) -> None:
        """Give the manager the nodes' registry credentials once; every service created
        after carries them to the node that pulls its image (``--with-registry-auth``)."""
        if self._logged_in:
            return
        user, password = self._node_auth
        try:
            self.api.login(user, password, registry=self.node_registry, reauth=True)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(
                f"The Swarm manager cannot log in to the registry {self.node_registry}: {exc}. "
                "Nodes must resolve it and trust the platform CA (docs/scaling.md)."
            ) from exc
        self._logged_in = True

    def start(self, spec: DynoSpec) -> Dyno:
        for d in self._split_dynos(self.nodes())[0]:
            if d.app == spec.app and d.type == spec.type and d.number == spec.number:
                raise Conflict(f"Dyno {spec.name} already exists.")
        self._login()
        with self._app_lock(spec.app):  # dynos booting together see each other's nodes
            service_id = self._create(spec)
            self._wait_placed(service_id)
        return self._find(service_id)

    def _app_lock(self, app: str) -> threading.Lock:
        with self._lock:
            return self._app_locks.setdefault(app, threading.Lock())

    def _spread(self, spec: DynoSpec) -> list[str]:
        """Keep ``spec`` off the nodes that already run a dyno of its app and type."""
        active = {
            n.id for n in self.nodes() if n.state == NodeState.READY and n.availability == "active"
        }
        tasks = self._tasks()
        taken = set()
        for svc in self._services(app=spec.app, type=spec.type):
            if (svc.get("Spec", {}).get("Labels") or {}).get(f"{LABEL}.retiring") == "1":
                continue
            task = current_task(tasks.get(str(svc.get("ID")), []))
            if task and task.get("NodeID"):
                taken.add(str(task["NodeID"]))
        return spread_constraints(active, taken)

    def _wait_placed(self, service_id: str, timeout: float = 5.0) -> None:
        """Until Swarm has given the new dyno a node (it does within a second), so the
        next one's :meth:`_spread` sees it; a dyno no node can take yet is left pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = current_task(self._service_tasks(service_id))
            if task and task.get("NodeID"):
                return
            time.sleep(0.1)

    def _create(self, spec: DynoSpec) -> str:
        image = self._image(spec.image)
        networks = [(self._app_network(spec.app), [spec.name])]
        if spec.group:
            networks.append((self._group_network(spec.group), list(spec.aliases)))
        args = service_args(
            spec,
            image,
            instance=self.instance,
            user=self.local._user(image),
            labels=self.local._labels(spec.app, spec.type, spec.number, spec.release),
            networks=networks,
            constraints=(
                swarmvolumes.pin(self, spec, (self.local._user(image), image))
                if spec.volumes
                else self._spread(spec)
            ),
        )
        try:
            created = self.api.create_service(**args)
        except docker.errors.APIError as exc:
            raise RuntimeFailure(f"Cannot start dyno {spec.name}: {exc.explanation}") from exc
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot start dyno {spec.name}: {exc}") from exc
        return str(created.get("ID", ""))

    def _service_tasks(self, service_id: str) -> list[dict[str, Any]]:
        """The tasks of one service, newest first."""
        try:
            tasks: list[dict[str, Any]] = self.api.tasks(filters={"service": service_id})
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"The Swarm manager failed to list tasks: {exc}") from exc
        return sorted(tasks, key=lambda t: str(t.get("CreatedAt", "")), reverse=True)

    def _look(self, service_id: str) -> tuple[Dyno, list[dict[str, Any]]]:
        """One service's dyno and its tasks (three calls, not a listing of every service)."""
        try:
            svc = self.api.inspect_service(service_id)
        except docker.errors.NotFound:
            raise NotFound(f"No dyno with service id {service_id[:12]}.") from None
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"The Swarm manager failed to read a service: {exc}") from exc
        tasks = self._service_tasks(service_id)
        return service_dyno(svc, tasks, self._addresses()), tasks

    def _find(self, service_id: str) -> Dyno:
        return self._look(service_id)[0]

    def wait_ready(self, dyno: Dyno, timeout: float, path: str | None = None) -> str | None:
        port = self._spec_port(dyno)
        if not port:
            return None  # workers have no check: Swarm restarts them when they crash
        pull_deadline = time.monotonic() + MAX_PULL_SECONDS
        deadline: float | None = None
        check = f"answer GET {path}" if path else f"bind port {port}"
        while True:
            try:
                current, tasks = self._look(dyno.id)
            except NotFound:
                return f"dyno {dyno.name} vanished"
            task = current_task(tasks)
            status = (task or {}).get("Status", {})
            state = str(status.get("State", ""))
            if current.state == DynoState.CRASHED or current.restart_count > 0 or state in FAILED:
                err = status.get("Err") or last_error(tasks)
                code = current.exit_code if current.exit_code is not None else "?"
                return f"{dyno.name} exited with status {code} before it could {check}: {err}"
            if deadline is None and state not in PULLING:
                deadline = time.monotonic() + timeout
            if current.state == DynoState.UP and self.probe(current, path):
                return None
            now = time.monotonic()
            if deadline is not None and now > deadline:
                return f"{dyno.name} did not {check} within {timeout:.0f}s (boot timeout)"
            if deadline is None and now > pull_deadline:
                return f"{dyno.name}: no node could get its image within {MAX_PULL_SECONDS:.0f}s"
            time.sleep(0.2)

    def _spec_port(self, dyno: Dyno) -> int:
        try:
            svc = self.api.inspect_service(dyno.id)
        except docker.errors.DockerException:
            return 0
        return int((svc.get("Spec", {}).get("Labels") or {}).get(f"{LABEL}.port") or 0)

    def probe(self, dyno: Dyno, path: str | None) -> bool:
        if not dyno.port:
            return not dyno.oneoff and dyno.state == DynoState.UP and not self._spec_port(dyno)
        if not dyno.ip:
            return False
        return http_ok(dyno.ip, dyno.port, path) if path else tcp_open(dyno.ip, dyno.port)

    def _label(self, dyno: Dyno, value: str | None) -> None:
        try:
            svc = self.api.inspect_service(dyno.id)
            labels = dict(svc.get("Spec", {}).get("Labels") or {})
            if value is None:
                labels.pop(f"{LABEL}.retiring", None)
            else:
                labels[f"{LABEL}.retiring"] = value
            self.api.update_service(
                dyno.id, svc["Version"]["Index"], labels=labels, fetch_current_spec=True
            )
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot relabel {dyno.name}: {exc}") from exc

    def retire(self, dyno: Dyno) -> Dyno:
        self._label(dyno, "1")
        return dyno

    def unretire(self, dyno: Dyno) -> None:
        self._label(dyno, None)

    def stop(self, dyno_id: str, grace: float) -> None:
        """Remove the service: Swarm sends SIGTERM and kills after 30 s; one-offs are
        containers on the manager and stop as on one host."""
        try:
            self.api.remove_service(dyno_id)
        except docker.errors.NotFound:
            self.local.stop(dyno_id, grace)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot stop dyno {dyno_id[:12]}: {exc}") from exc

    def remove_app(self, app: str) -> None:
        for svc in self._services(app=app):
            self.stop(str(svc.get("ID", "")), grace=10)
        swarmvolumes.remove_app(self, app)
        try:
            self.local.remove_app(app)  # one-offs, networks, the manager's images
        except RuntimeFailure as exc:
            if "active endpoints" in str(exc):  # tasks still stopping: the next pass
                return
            raise
        for hostname in self.node_engines:  # the other nodes' copies of the images
            try:
                engine = self._engine(hostname)
                if engine is not None:
                    untag_images(engine, f"{self.node_registry}/{app}/")
            except (RuntimeFailure, docker.errors.DockerException) as exc:
                log.warning("images of %s stay on node %s: %s", app, hostname, exc)

    def read_file(self, dyno: Dyno, path: str, limit: int) -> bytes:
        engine, container = self._engine_of(dyno)
        return read_container_file(engine, container, path, limit)

    def listening(self, dyno: Dyno) -> list[int] | None:
        """Read in the container (its node may be another host): needs ``cat``."""
        try:
            engine, container = self._engine_of(dyno)
            code, out = engine.containers.get(container).exec_run(
                ["cat", "/proc/net/tcp", "/proc/net/tcp6"], demux=False
            )
        except (MoorageError, docker.errors.DockerException):
            return None
        text = out.decode(errors="replace") if isinstance(out, bytes) else ""
        return listening_ports(text) if code == 0 or text else None

    # -- volumes: on the node that holds each (runtime/swarmvolumes.py) ------------------------
    def volumes(self) -> set[tuple[str, str]]:
        return set(swarmvolumes.held(self))

    def remove_volume(self, app: str, name: str) -> bool:
        return swarmvolumes.remove(self, app, name)

    def volume_usage(self) -> dict[tuple[str, str], int]:
        return swarmvolumes.usage(self)

    def export_volume(self, app: str, name: str, image: str) -> Iterator[bytes]:
        return swarmvolumes.export(self, app, name, self._image(image))

    def import_volume(self, app: str, name: str, image: str, tar: bytes) -> None:
        local = self._image(image)
        swarmvolumes.restore(self, app, name, local, tar, self.local._user(local))

    # -- one-offs, exec, stats: on the engine that runs the container ---------------------------
    def start_oneoff(self, spec: OneOffSpec) -> Dyno:
        self._app_network(spec.app)  # the one-off joins the app's overlay network
        if spec.group:
            self._group_network(spec.group)
        local = dataclasses.replace(spec, image=self._image(spec.image))
        for delay in (0.2, 0.4, 0.8, 1.6):
            try:
                return self.local.start_oneoff(local)
            except RuntimeFailure as exc:
                # the engine tears its copy of an overlay network down when the node's last
                # container leaves it; a start in that moment finds no network: try again
                if "network" not in str(exc) or "not found" not in str(exc):
                    raise
                log.info("one-off %s met its network being torn down; retrying", spec.name)
                time.sleep(delay)
        return self.local.start_oneoff(local)

    def wait_exit(self, dyno_id: str, timeout: float | None = None) -> int:
        return self.local.wait_exit(dyno_id, timeout)

    def _engine_of(self, dyno: Dyno) -> tuple[docker.DockerClient, str]:
        """The engine running ``dyno``'s container, and the container's id there."""
        if dyno.oneoff:
            return self.client, dyno.id
        task = current_task(self._service_tasks(dyno.id))
        status = (task or {}).get("Status", {})
        container = (status.get("ContainerStatus") or {}).get("ContainerID")
        if not task or status.get("State") != RUNNING or not container:
            raise NotFound(f"Dyno {dyno.name} is not running.")
        node = str(task.get("NodeID", ""))
        if node == self.manager_node:
            return self.client, str(container)
        hostname = self._addresses().get(node, ("", ""))[0]
        engine = self._engine(hostname)
        if engine is None:
            raise NotFound(
                f"Dyno {dyno.name} runs on node {hostname or node[:12]}, whose engine this "
                "platform cannot reach; add it to MOORAGE_SWARM_NODE_ENGINES (docs/scaling.md)."
            )
        return engine, str(container)

    def _engine(self, hostname: str) -> docker.DockerClient | None:
        """A client of a node's engine, made on first use (a node that is down must not
        keep the platform from starting)."""
        url = self.node_engines.get(hostname)
        if url is None:
            return None
        with self._lock:
            if hostname not in self._engines:
                try:
                    self._engines[hostname] = docker.DockerClient(base_url=url, timeout=30)
                except docker.errors.DockerException as exc:
                    raise RuntimeFailure(f"The engine of node {hostname} at {url}: {exc}") from exc
            return self._engines[hostname]

    def open_exec(
        self, dyno: Dyno, cmd: list[str], *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        from moorage.runtime import session

        engine, container = self._engine_of(dyno)
        return session.open_exec(engine, container, cmd, tty=tty, rows=rows, cols=cols)

    def open_attach(
        self, dyno: Dyno, *, tty: bool, rows: int | None, cols: int | None
    ) -> TtySession:
        return self.local.open_attach(dyno, tty=tty, rows=rows, cols=cols)

    def stats(self, dyno: Dyno) -> DynoStats | None:
        try:
            engine, container = self._engine_of(dyno)
        except NotFound:
            return None
        return container_stats(engine, container, dyno)

    # -- streams ------------------------------------------------------------------------------
    def watch(self, on_event: Callable[[DynoEvent], None], stop: threading.Event) -> None:
        """One-off events from the manager's engine; formation dyno exits and restarts from
        polling the tasks once a second (Swarm's event stream has no task events)."""

        def oneoffs(ev: DynoEvent) -> None:
            if ev.dyno.oneoff:
                on_event(ev)

        threading.Thread(
            target=self.local.watch, args=(oneoffs, stop), daemon=True, name="swarm-oneoffs"
        ).start()
        seen: dict[str, str] = {}  # task id -> state at the last look
        known: set[str] = set()  # services seen at the last look
        while not stop.wait(1.0):
            try:
                services = {str(s.get("ID")): s for s in self._services()}
                tasks = self._tasks()
            except RuntimeFailure:
                continue
            now: dict[str, str] = {}
            for sid, svc in services.items():
                self._relax(svc, current_task(tasks.get(sid, [])))
                for t in tasks.get(sid, []):
                    tid = str(t.get("ID"))
                    event = task_event(svc, t, seen.get(tid), sid in known)
                    now[tid] = str(t.get("Status", {}).get("State", ""))
                    if event is not None:
                        on_event(event)
            seen, known = now, set(services)

    def _relax(self, svc: dict[str, Any], task: dict[str, Any] | None) -> None:
        """Drop a dyno's spread constraints when they keep it from any node (see relaxed)."""
        template = relaxed(svc.get("Spec", {}).get("TaskTemplate") or {}, task)
        if template is None:
            return
        try:
            self.api.update_service(
                svc["ID"], svc["Version"]["Index"], task_template=template, fetch_current_spec=True
            )
        except docker.errors.DockerException as exc:
            log.warning("cannot relax the placement of service %s: %s", svc.get("ID"), exc)

    async def log_stream(self, dyno_id: str, since: float) -> AsyncIterator[tuple[str, bytes]]:
        """(RFC 3339 timestamp, line) of a dyno's output: the service's logs, gathered by
        the manager from whichever node runs it, following; a one-off's from its
        container."""
        client = self.local.log_client()  # the manager's engine
        if client is None:
            async for entry in enginelogs.bridged(lambda: self._blocking_logs(dyno_id, since)):
                yield entry
            return
        tty = await enginelogs.is_tty(client, "service", dyno_id)
        source = (
            self.local.log_stream(dyno_id, since)  # not a service: a one-off's container
            if tty is None
            else enginelogs.follow(client, "service", dyno_id, since, tty)
        )
        async for entry in source:
            yield entry

    def _blocking_logs(self, dyno_id: str, since: float) -> Iterator[tuple[str, bytes]]:
        try:
            self.api.inspect_service(dyno_id)
        except docker.errors.NotFound:
            return enginelogs.blocking_container_logs(self.client, dyno_id, since)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot read the log of {dyno_id[:12]}: {exc}") from exc
        return enginelogs.blocking_service_logs(self.api, dyno_id, since)
