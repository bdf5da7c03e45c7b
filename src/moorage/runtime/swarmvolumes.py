"""Persistent volumes on a swarm: a local volume on one node, its dyno pinned there.

Swarm has no volume that follows a task between nodes (without a cluster storage driver),
so a dyno with a volume runs where its volume is: the first start picks a node and
creates the volume there; later starts (restarts, releases) are constrained to that node.
A drained or lost node keeps the dyno from running until the node is back (``moor
nodes:drain`` names the volumes that do so); ``volumes:export``/``import`` move the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import docker

from moorage.errors import NotFound, RuntimeFailure
from moorage.runtime import volumes
from moorage.spec.dyno import DynoSpec
from moorage.spec.status import NodeState

if TYPE_CHECKING:
    from moorage.runtime.swarm import SwarmRuntime


def engines(rt: SwarmRuntime) -> list[tuple[str, str, docker.DockerClient]]:
    """(node id, hostname, engine) of every node whose engine the platform reaches."""
    out = []
    for n in rt.nodes():
        if n.state != NodeState.READY:
            continue  # down or unknown: its engine would only time out
        engine = rt.client if n.id == rt.manager_node else rt._engine(n.hostname)
        if engine is not None:
            out.append((n.id, n.hostname, engine))
    return out


def held(rt: SwarmRuntime) -> dict[tuple[str, str], tuple[str, docker.DockerClient]]:
    """(app, volume) -> (hostname, engine) of the node that holds it."""
    out: dict[tuple[str, str], tuple[str, docker.DockerClient]] = {}
    for _, hostname, engine in engines(rt):
        try:
            found = volumes.listed(engine, rt.instance)
        except RuntimeFailure:  # a node that is down: its volumes are out of reach
            continue
        for key in found:
            out.setdefault(key, (hostname, engine))
    return out


def pin(rt: SwarmRuntime, spec: DynoSpec, owner: tuple[str, str]) -> list[str]:
    """The placement of a dyno with volumes: the node holding them, else a node picked now
    (an active one without a dyno of the same type first), where they are created."""
    holders = held(rt)
    found = [holders[(spec.app, v.name)] for v in spec.volumes if (spec.app, v.name) in holders]
    if found:
        hostname, engine = found[0]
    else:
        ready = {
            n.id for n in rt.nodes() if n.state == NodeState.READY and n.availability == "active"
        }
        avoid = {c.split("!=", 1)[1] for c in rt._spread(spec) if "!=" in c}
        choices = sorted(
            (
                (node_id in avoid, hostname, engine)
                for node_id, hostname, engine in engines(rt)
                if node_id in ready
            ),
            key=lambda c: (c[0], c[1]),
        )
        if not choices:
            raise RuntimeFailure(
                f"No active node whose engine the platform reaches can hold the volumes of "
                f"{spec.name}; add nodes to MOORAGE_SWARM_NODE_ENGINES (docs/scaling.md)."
            )
        _, hostname, engine = choices[0]
    for v in spec.volumes:
        volumes.ensure(engine, rt.instance, spec.app, v.name, owner)
    return [f"node.hostname=={hostname}"]


def _holder(rt: SwarmRuntime, app: str, name: str) -> docker.DockerClient:
    where = held(rt).get((app, name))
    if where is None:
        raise NotFound("The volume has no files yet: it is created when its dyno starts.")
    return where[1]


def remove(rt: SwarmRuntime, app: str, name: str) -> bool:
    where = held(rt).get((app, name))
    return where is None or volumes.remove(where[1], volumes.volume_name(rt.instance, app, name))


def usage(rt: SwarmRuntime) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for _, _, engine in engines(rt):
        try:
            out.update(volumes.usage(engine, rt.instance))
        except RuntimeFailure:  # a node that is down: no numbers for its volumes
            continue
    return out


def export(rt: SwarmRuntime, app: str, name: str, image: str) -> Iterator[bytes]:
    engine = _holder(rt, app, name)
    return volumes.export(engine, volumes.volume_name(rt.instance, app, name), image)


def restore(rt: SwarmRuntime, app: str, name: str, image: str, tar: bytes, user: str) -> None:
    engine = _holder(rt, app, name)
    volumes.restore(engine, volumes.volume_name(rt.instance, app, name), image, tar, user)


def remove_app(rt: SwarmRuntime, app: str) -> None:
    for (owner, name), (_, engine) in held(rt).items():
        if owner == app:
            volumes.remove(engine, volumes.volume_name(rt.instance, app, name))
