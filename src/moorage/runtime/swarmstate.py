"""Swarm's state read into Moorage's terms: services and tasks into dynos, nodes into
:class:`Node`, task changes into dyno events. Pure, except :func:`swarm_nodes` and
:func:`set_availability`."""

from __future__ import annotations

import shlex
import time
from typing import Any

import docker
import docker.errors

from moorage.errors import NotFound, RuntimeFailure
from moorage.spec.dyno import Dyno, DynoEvent, Node
from moorage.spec.status import DynoState

LABEL = "moorage"
RUNNING = "running"
FAILED = {"failed", "rejected", "orphaned"}
LEAVING_LABEL = f"{LABEL}.leaving"  # on a node: `moor nodes:drain` asked to empty it


def _identity(svc: dict[str, Any]) -> dict[str, Any]:
    """The Dyno fields a service's labels carry: id, app, type, number, release, fingerprint."""
    labels: dict[str, str] = svc.get("Spec", {}).get("Labels") or {}
    return {
        "id": str(svc.get("ID", "")),
        "app": labels.get(f"{LABEL}.app", ""),
        "type": labels.get(f"{LABEL}.type", ""),
        "number": int(labels.get(f"{LABEL}.number", "0") or 0),
        "release": int(labels.get(f"{LABEL}.release", "0") or 0),
        "fingerprint": labels.get(f"{LABEL}.fingerprint", ""),
    }


def current_task(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The task Swarm wants running (``tasks`` newest first), else the newest one."""
    live = [t for t in tasks if t.get("DesiredState") == RUNNING]
    return live[0] if live else (tasks[0] if tasks else None)


def last_error(tasks: list[dict[str, Any]]) -> str:
    """The newest error a task of the service reported ("" when none did)."""
    for t in tasks:
        err = t.get("Status", {}).get("Err")
        if err:
            return str(err)
    return ""


def service_dyno(
    svc: dict[str, Any], tasks: list[dict[str, Any]], nodes: dict[str, tuple[str, str]]
) -> Dyno:
    """The dyno a service stands for, from its tasks (newest first) and the nodes' (hostname,
    address): up when its current task runs, crashed when a task of it failed and none runs
    now, starting otherwise (being placed, pulling its image, starting)."""
    current = current_task(tasks)
    status = (current or {}).get("Status", {})
    state = str(status.get("State", "new"))
    earlier_failures = [t for t in tasks if t.get("Status", {}).get("State") in FAILED]
    if state == RUNNING:
        mapped = DynoState.UP
    elif state in FAILED or (earlier_failures and current is not None and state != RUNNING):
        mapped = DynoState.CRASHED
    else:
        mapped = DynoState.STARTING
    node, addr = nodes.get(str((current or {}).get("NodeID", "")), ("", ""))
    ports = (status.get("PortStatus") or {}).get("Ports") or []
    published = int(ports[0].get("PublishedPort", 0)) if ports else 0
    # the exit code of the task that failed: a task waiting out the restart delay carries a
    # container status too, with exit code 0
    failed = current if state in FAILED else next(iter(earlier_failures), None)
    exit_code = (
        ((failed or {}).get("Status", {}).get("ContainerStatus") or {}).get("ExitCode")
        if mapped == DynoState.CRASHED
        else None
    )
    args = svc.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {}).get("Args")
    return Dyno(
        **_identity(svc),
        state=mapped,
        ip=(addr or None) if published else None,
        port=published or None,
        created_at=str(svc.get("CreatedAt", ""))[:19] + "Z",
        exit_code=int(exit_code) if exit_code is not None else None,
        started_at=f"{(current or {}).get('ID', '')}@{status.get('Timestamp', '')}"
        if state == RUNNING
        else "",
        command=shlex.join(args) if args else "",
        restart_count=len(earlier_failures),
        node=node,
    )


def split_dynos(
    services: list[dict[str, Any]], tasks: dict[str, list[dict[str, Any]]], nodes: list[Node]
) -> tuple[list[Dyno], list[Dyno]]:
    """The formation's dynos and the retiring ones (labelled ``moorage.retiring``); ``nodes``
    give each task's hostname and the address the router reaches it on."""
    where = {n.id: (n.hostname, n.address) for n in nodes}
    current: list[Dyno] = []
    retiring: list[Dyno] = []
    for svc in services:
        dyno = service_dyno(svc, tasks.get(str(svc.get("ID")), []), where)
        labels = svc.get("Spec", {}).get("Labels") or {}
        (retiring if labels.get(f"{LABEL}.retiring") == "1" else current).append(dyno)
    return current, retiring


def swarm_nodes(client: docker.DockerClient, manager: str | None = None) -> list[Node]:
    """The swarm's nodes with their role, state, availability and address, by hostname;
    ``manager`` is the id of the node ``client`` talks to (asked when not given)."""
    api: Any = client.api
    try:
        if manager is None:
            manager = str(client.info().get("Swarm", {}).get("NodeID", ""))
        raw = api.nodes()
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"The Swarm manager failed to list nodes: {exc}") from exc
    return sorted((to_node(n, manager) for n in raw), key=lambda n: n.hostname)


def to_node(raw: dict[str, Any], manager: str) -> Node:
    desc, status, spec = raw.get("Description", {}), raw.get("Status", {}), raw.get("Spec", {})
    manager_addr = (raw.get("ManagerStatus") or {}).get("Addr", "")
    addr = str(status.get("Addr") or "")
    if addr in ("", "0.0.0.0") and manager_addr:
        addr = manager_addr.rsplit(":", 1)[0]
    return Node(
        id=str(raw.get("ID", "")),
        hostname=str(desc.get("Hostname", "")),
        role=str(spec.get("Role", "")),
        availability=str(spec.get("Availability", "")),
        state=str(status.get("State", "")),
        address=addr,
        engine=str((desc.get("Engine") or {}).get("EngineVersion", "")),
        leader=bool((raw.get("ManagerStatus") or {}).get("Leader")),
        this=str(raw.get("ID", "")) == manager,
        leaving=LEAVING_LABEL in (spec.get("Labels") or {}),
    )


def set_availability(client: docker.DockerClient, name: str, availability: str) -> dict[str, Any]:
    """Set node ``name``'s availability (by hostname or id) and return it as it was.

    ``leaving`` is how ``moor nodes:drain`` asks: the node is paused (nothing new starts
    there) and labelled, the reconciler takes its dynos out of the router, then hands it to
    Swarm's own ``drain``, which moves them. Any other availability drops the label."""
    api: Any = client.api
    try:
        raw = api.inspect_node(name)
        spec = dict(raw["Spec"])
        labels = {k: v for k, v in (spec.get("Labels") or {}).items() if k != LEAVING_LABEL}
        if availability == "leaving":
            availability, labels[LEAVING_LABEL] = "pause", "requested"
        spec.update(Labels=labels, Availability=availability)
        api.update_node(raw["ID"], raw["Version"]["Index"], spec)
    except docker.errors.NotFound as exc:
        raise NotFound(f"No node {name} in the swarm. See `moor nodes`.") from exc
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"The Swarm manager failed to update node {name}: {exc}") from exc
    return dict(raw)


def task_event(
    svc: dict[str, Any], task: dict[str, Any], before: str | None, known: bool
) -> DynoEvent | None:
    """A ``die`` when a task fails (its process exited, or it could not start), a ``start``
    when a task starts running; ``before`` is the task's state at the last look (None: not
    seen then), ``known`` whether its service was seen then."""
    state = str(task.get("Status", {}).get("State", ""))
    if before == state:
        return None
    labels: dict[str, str] = svc.get("Spec", {}).get("Labels") or {}
    if labels.get(f"{LABEL}.retiring") == "1":
        return None
    code = (task.get("Status", {}).get("ContainerStatus") or {}).get("ExitCode")
    dyno = Dyno(
        **_identity(svc),
        state=DynoState.CRASHED,
        ip=None,
        port=None,
        created_at="",
        exit_code=int(code) if code is not None else None,
    )
    if before is None and not known:
        return None  # a task of a service first seen now: its past is not news
    now = time.time()
    if state in FAILED and before not in FAILED:
        return DynoEvent(dyno=dyno, action="die", time=now)
    if state == RUNNING and before != RUNNING:
        return DynoEvent(dyno=dyno, action="start", time=now)
    return None


AVOID = "node.id!="


def spread_constraints(active: set[str], taken: set[str]) -> list[str]:
    """Placement constraints that keep a new dyno off the nodes (``taken``) that already run
    one of its process type, so an app's dynos spread over hosts: Swarm's own spread counts
    only the tasks of one service, and each dyno is a service. None when that would leave
    no ``active`` node."""
    if not active - taken:
        return []
    return [f"{AVOID}{node}" for node in sorted(taken)]


def relaxed(template: dict[str, Any], task: dict[str, Any] | None) -> dict[str, Any] | None:
    """``template`` without the spread constraints when its task waits for a node they rule
    out (after a drain or a lost node), else None: spreading yields to running at all."""
    placement = template.get("Placement") or {}
    constraints = placement.get("Constraints") or []
    status = (task or {}).get("Status", {})
    stuck = status.get("State") == "pending" and "no suitable node" in str(status.get("Err"))
    if not stuck or not any(c.startswith(AVOID) for c in constraints):
        return None
    keep = [c for c in constraints if not c.startswith(AVOID)]
    return {**template, "Placement": {**placement, "Constraints": keep}}
