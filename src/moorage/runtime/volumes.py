"""Persistent volumes on one Docker Engine: local named volumes, labelled with the platform
instance, the app and the volume's name.

A volume is created when the first dyno that mounts it starts, owned by that dyno's user (a
new volume is root's, and dynos never run as root). Its files are read and written for
``volumes:export``/``volumes:import`` through a helper container that is created and never
started: the engine copies the files, no process of the image runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from moorage.errors import Conflict, NotFound, RuntimeFailure
from moorage.spec.dyno import VolumeMount

log = logging.getLogger(__name__)
LABEL = "moorage"
INSIDE = "/volume"  # where the helper container sees the volume


def volume_name(instance: str, app: str, name: str) -> str:
    return f"moorage-{instance}-{app}-{name}"


def _labels(instance: str, app: str, name: str) -> dict[str, str]:
    return {f"{LABEL}.instance": instance, f"{LABEL}.app": app, f"{LABEL}.volume": name}


def mounts(
    client: docker.DockerClient,
    instance: str,
    app: str,
    wanted: tuple[VolumeMount, ...],
    owner: tuple[str, str],
) -> list[Mount]:
    """The mounts of a dyno of ``app``, each volume created first if it is new; ``owner``:
    the dyno's (user, image)."""
    out = []
    for v in wanted:
        source = ensure(client, instance, app, v.name, owner)
        out.append(Mount(v.path, source, type="volume"))
    return out


def ensure(
    client: docker.DockerClient, instance: str, app: str, name: str, owner: tuple[str, str]
) -> str:
    """The engine's name of the volume, created now if it is not there, its top folder owned
    by the dyno's user (``owner``: user and image)."""
    full = volume_name(instance, app, name)
    try:
        found = client.volumes.get(full)
    except docker.errors.NotFound:
        found = None
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot look up volume {name} of {app}: {exc}") from exc
    if found is None:
        try:
            found = client.volumes.create(full, labels=_labels(instance, app, name))
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot create volume {name} of {app}: {exc}") from exc
    if not _own(found.attrs.get("Mountpoint", ""), owner[0], full):
        _own_inside(client, full, owner)
    return full


def _own(mountpoint: str, user: str, full: str) -> bool:
    """Give the volume's top folder to the dyno's user (the engine makes it root's), when
    the engine's files are this host's; False when they are another host's."""
    uid, _, gid = user.partition(":")
    ids = (int(uid), int(gid or uid))
    try:
        if not mountpoint.endswith(f"/{full}/_data"):
            return False
        st = os.stat(mountpoint)
        if (st.st_uid, st.st_gid) != ids:
            os.chown(mountpoint, *ids)
    except OSError:
        return False
    return True


def _own_inside(client: docker.DockerClient, full: str, owner: tuple[str, str]) -> None:
    """The same through a container of the dyno's image on the volume's engine (another
    host's): ``chown`` as root with only the capability to change owners."""
    user, image = owner
    try:
        client.containers.run(
            image,
            entrypoint=["chown", user, INSIDE],
            command=[],
            user="0:0",
            cap_drop=["ALL"],
            cap_add=["CHOWN"],
            network_disabled=True,
            mounts=[Mount(INSIDE, full)],
            remove=True,
        )
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(
            f"Cannot give volume {full} to the dyno's user {user}: {exc}. The image needs a "
            "`chown` command for its first start on a node of a swarm."
        ) from exc


def listed(client: docker.DockerClient, instance: str) -> dict[tuple[str, str], str]:
    """(app, volume name) -> engine name of every volume of this platform instance."""
    try:
        found = client.volumes.list(filters={"label": f"{LABEL}.instance={instance}"})
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot list volumes: {exc}") from exc
    out = {}
    for v in found:
        labels: dict[str, str] = v.attrs.get("Labels") or {}
        app, name = labels.get(f"{LABEL}.app"), labels.get(f"{LABEL}.volume")
        if app and name:
            out[(app, name)] = str(v.name)
    return out


def usage(client: docker.DockerClient, instance: str) -> dict[tuple[str, str], int]:
    """Bytes used by each volume of this instance (the engine walks the files)."""
    try:
        volumes: list[dict[str, Any]] = client.df().get("Volumes") or []
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot measure volumes: {exc}") from exc
    out = {}
    for v in volumes:
        labels = v.get("Labels") or {}
        if labels.get(f"{LABEL}.instance") == instance:
            size = (v.get("UsageData") or {}).get("Size", -1)
            out[(labels.get(f"{LABEL}.app", ""), labels.get(f"{LABEL}.volume", ""))] = int(size)
    return out


def remove(client: docker.DockerClient, full: str) -> bool:
    """Remove a volume; False while a container still uses it (the caller tries again)."""
    try:
        client.volumes.get(full).remove()
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            return False
        raise RuntimeFailure(f"Cannot remove volume {full}: {exc.explanation}") from exc
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot remove volume {full}: {exc}") from exc
    return True


@contextlib.contextmanager
def _helper(client: docker.DockerClient, full: str, image: str) -> Iterator[Any]:
    """A container of ``image`` with the volume at :data:`INSIDE`, created, never started."""
    try:
        client.volumes.get(full)
    except docker.errors.NotFound as exc:
        raise NotFound("The volume has no files yet: it is created when its dyno starts.") from exc
    try:
        box = client.containers.create(
            image, command=["true"], network_disabled=True, mounts=[Mount(INSIDE, full)]
        )
    except docker.errors.DockerException as exc:
        raise RuntimeFailure(f"Cannot open volume {full}: {exc}") from exc
    try:
        yield box
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            box.remove(force=True)


def export(client: docker.DockerClient, full: str, image: str) -> Iterator[bytes]:
    """The volume's files as a tar stream (paths relative to the volume's top)."""
    with _helper(client, full, image) as box:
        try:
            stream, _ = box.get_archive(f"{INSIDE}/.")
            yield from stream
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot read volume {full}: {exc}") from exc


def restore(client: docker.DockerClient, full: str, image: str, tar: bytes, user: str) -> None:
    """Unpack ``tar`` into the volume (files of the same name are replaced)."""
    with _helper(client, full, image) as box:
        try:
            ok = box.put_archive(INSIDE, tar)
        except docker.errors.APIError as exc:
            raise Conflict(f"The archive could not be unpacked: {exc.explanation}") from exc
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"Cannot write volume {full}: {exc}") from exc
        if not ok:
            raise RuntimeFailure(f"Cannot write volume {full}.")
        _own_tree(client.volumes.get(full).attrs.get("Mountpoint", ""), user)


def _own_tree(mountpoint: str, user: str) -> None:
    """Give unpacked files to the dyno's user (the engine unpacks them as root)."""
    uid, _, gid = user.partition(":")
    ids = (int(uid), int(gid or uid))
    if not mountpoint or not os.path.isdir(mountpoint):
        return
    for root, dirs, files in os.walk(mountpoint):
        for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
            with contextlib.suppress(OSError):
                os.lchown(entry, *ids)
