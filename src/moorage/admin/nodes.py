"""``moor nodes``, ``nodes:add``, ``nodes:drain``, ``nodes:activate``, ``nodes:remove``.

Operator commands, run as root on the manager host like ``moor setup``: they change where
every app runs, so they talk to the Swarm manager (``MOORAGE_SWARM_ENGINE``) directly and are
not in the API, which users' tokens reach. Swarm does the moving: a drained or lost node's
dynos start elsewhere, and the reconciler routes them once they pass their check. A drain
pauses the node first; the reconciler takes its dynos out of the router, then hands the node
to Swarm's ``drain`` (docs/scaling.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
import docker
import docker.errors

from moorage.errors import InvalidParams, NotFound, RuntimeFailure
from moorage.runtime.swarmstate import set_availability, swarm_nodes
from moorage.settings import Settings

HAND_OVER_SECONDS = 60.0  # how long nodes:drain waits for the reconciler


def _manager(settings: Settings) -> docker.DockerClient:
    if settings.runtime != "swarm":
        raise InvalidParams(
            "This platform runs on one host (MOORAGE_RUNTIME=docker). Set MOORAGE_RUNTIME=swarm "
            "and MOORAGE_SWARM_ENGINE to a Swarm manager first (see docs/scaling.md)."
        )
    url = settings.swarm_engine
    try:
        client = docker.DockerClient(base_url=url, timeout=60) if url else docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        where = url or "DOCKER_HOST"
        raise RuntimeFailure(f"The Swarm manager at {where} does not answer: {exc}") from exc
    return client


def _node(client: docker.DockerClient, name: str) -> dict[str, Any]:
    for raw in client.api.nodes():
        if name in (raw.get("ID"), raw.get("Description", {}).get("Hostname")):
            found: dict[str, Any] = raw
            return found
    raise NotFound(f"No node {name} in the swarm. See `moor nodes`.")


def _run(fn: Any) -> Any:
    """``fn()``, a refusal of the Swarm manager raised as the error tree's RuntimeFailure (the
    CLI prints it and exits with its code, as for every other command)."""
    try:
        return fn()
    except docker.errors.APIError as exc:
        raise RuntimeFailure(f"The Swarm manager refused: {exc.explanation}") from exc


@click.command("nodes")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def nodes(as_json: bool) -> None:
    """List the swarm's nodes: role, state, availability, address and dynos on each."""

    def go() -> None:
        client = _manager(Settings.from_env())
        found = swarm_nodes(client)
        api: Any = client.api
        tasks = api.tasks(filters={"desired-state": "running"})
        count = {n.id: sum(t.get("NodeID") == n.id for t in tasks) for n in found}
        if as_json:
            rows = [{**n.__dict__, "dynos": count[n.id]} for n in found]
            click.echo(json.dumps(rows, indent=2))
            return
        click.echo(f"{'node':<28} {'role':<8} {'state':<7} {'availability':<12} address  dynos")
        for n in found:
            role = n.role + ("*" if n.leader else "")
            click.echo(
                f"{n.hostname:<28} {role:<8} {n.state:<7} {n.availability:<12} "
                f"{n.address}  {count[n.id]}"
            )

    _run(go)


@click.command("nodes:add")
@click.option("--engine", default=None, help="Join this engine now (e.g. tcp://10.0.0.2:2376).")
@click.option("--manager", "manager_only", is_flag=True, help="Add a manager, not a worker.")
def nodes_add(engine: str | None, manager_only: bool) -> None:
    """Print the command that joins a host to the swarm, or join --engine now."""

    def go() -> None:
        settings = Settings.from_env()
        client = _manager(settings)
        swarm = client.swarm
        swarm.reload()
        token = swarm.attrs["JoinTokens"]["Manager" if manager_only else "Worker"]
        addr = client.info()["Swarm"]["RemoteManagers"][0]["Addr"]
        if engine:
            other = docker.DockerClient(base_url=engine, timeout=60)
            other.swarm.join([addr], token)
            click.echo(f"Joined {other.info().get('Name', engine)} to the swarm.")
            return
        click.echo("On the new host (Debian, as root):")
        click.echo("  apt-get install docker.io")
        click.echo(f"  docker swarm join --token {token} {addr}")
        click.echo(
            f"It must resolve {settings.node_registry.split(':')[0]} to this host and trust the "
            "platform CA for it: see docs/scaling.md."
        )

    _run(go)


def _availability(name: str, availability: str) -> list[str]:
    """Set the node's availability (``leaving``: see :func:`set_availability`); the dynos
    pinned to it by their volumes (``app/volume (type.n)``), which cannot move."""
    settings = Settings.from_env()
    client = _manager(settings)
    raw = _node(client, name)
    set_availability(client, raw["ID"], availability)
    hostname = raw.get("Description", {}).get("Hostname", name)
    api: Any = client.api
    mine = api.services(filters={"label": f"moorage.instance={settings.instance}"})
    return pinned(mine, hostname, settings.instance)


def _handed_over(name: str, timeout: float) -> bool:
    """Wait until the reconciler has taken the node's dynos out of the router and handed the
    node to Swarm's drain (``moor server`` must run for that)."""
    client = _manager(Settings.from_env())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _node(client, name).get("Spec", {}).get("Availability") == "drain":
            return True
        time.sleep(0.5)
    return False


def pinned(services: list[dict[str, Any]], hostname: str, instance: str) -> list[str]:
    """``app/volume (type.n)`` for each dyno service held on ``hostname`` by a volume."""
    out = []
    for svc in services:
        spec = svc.get("Spec") or {}
        task = spec.get("TaskTemplate") or {}
        where = (task.get("Placement") or {}).get("Constraints") or []
        if f"node.hostname=={hostname}" not in where:
            continue
        labels = spec.get("Labels") or {}
        mounts = (task.get("ContainerSpec") or {}).get("Mounts") or []
        prefix = f"moorage-{instance}-{labels.get('moorage.app')}-"
        for m in mounts:
            if m.get("Type") == "volume":
                volume = str(m.get("Source", "")).removeprefix(prefix)
                process = f"{labels.get('moorage.type')}.{labels.get('moorage.number')}"
                out.append(f"{labels.get('moorage.app')}/{volume} ({process})")
    return sorted(set(out))


@click.command("nodes:drain")
@click.argument("node")
def nodes_drain(node: str) -> None:
    """Move every dyno off NODE: Swarm stops them there and starts them on other nodes."""
    held = _run(lambda: _availability(node, "leaving"))
    if not _run(lambda: _handed_over(node, HAND_OVER_SECONDS)):
        raise RuntimeFailure(
            f"{node} is paused (no new dynos start there), but `moor server` has not taken its "
            "dynos out of the router yet. Is it running? It moves them when it is: run "
            f"`moor nodes` to follow, or `moor nodes:activate {node}` to cancel."
        )
    click.echo(f"Draining {node}: its dynos move to the other nodes. `moor nodes` shows them.")
    if held:
        click.echo(
            f"These dynos keep their volume on {node} and stop until it is active again: "
            f"{', '.join(held)}. Move one with `moor volumes:export` and `volumes:import` "
            "into a new volume, or run `moor nodes:activate " + node + "`."
        )


@click.command("nodes:activate")
@click.argument("node")
def nodes_activate(node: str) -> None:
    """Let NODE take dynos again after nodes:drain."""
    _run(lambda: _availability(node, "active"))
    click.echo(f"{node} takes dynos again.")


@click.command("nodes:remove")
@click.argument("node")
@click.option("--force", is_flag=True, help="Remove it even if it still answers.")
def nodes_remove(node: str, force: bool) -> None:
    """Remove NODE from the swarm (drain it first, or it must be down)."""

    def go() -> None:
        client = _manager(Settings.from_env())
        raw = _node(client, node)
        if raw.get("Status", {}).get("State") == "ready" and not force:
            if raw.get("Spec", {}).get("Availability") != "drain":
                raise InvalidParams(
                    f"{node} is up and has dynos. Run `moor nodes:drain {node}` first, then "
                    f"`docker swarm leave` on it, or use --force."
                )
        client.api.remove_node(raw["ID"], force=True)
        click.echo(f"Removed {node} from the swarm.")

    _run(go)
