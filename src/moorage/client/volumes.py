"""Persistent volumes: list, create, mount, unmount, destroy, and their files as a tar."""

from __future__ import annotations

from pathlib import Path

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.volumes import Imported, Volume, VolumeCreate, VolumeUpdate

_VOLUMES = Shape(list[Volume])


def _volume_path(app: str, name: str) -> str:
    return path("/apps/{}/volumes/{}", app, name)


def volumes(c: Client, app: str) -> list[Volume]:
    return _VOLUMES.validate_python(c.request("GET", path("/apps/{}/volumes", app)))


def volume_create(
    c: Client,
    app: str,
    name: str,
    size: str,
    *,
    process_type: str | None = None,
    mount_path: str | None = None,
) -> Volume:
    """A new volume, mounted at ``mount_path`` in ``process_type`` when both are given."""
    made = VolumeCreate(name=name, size=size, process_type=process_type, path=mount_path)
    body = made.model_dump(exclude_none=True)
    return Volume.model_validate(c.request("POST", path("/apps/{}/volumes", app), body))


def volume_mount(c: Client, app: str, name: str, mount_path: str, process_type: str) -> Volume:
    body = VolumeUpdate(process_type=process_type, path=mount_path).model_dump()
    return Volume.model_validate(c.request("PATCH", _volume_path(app, name), body))


def volume_unmount(c: Client, app: str, name: str) -> Volume:
    return Volume.model_validate(c.request("PATCH", _volume_path(app, name), {}))


def volume_destroy(c: Client, app: str, name: str, *, confirm: str) -> Volume:
    """Destroy the volume and its files; ``confirm`` is the app's name again."""
    answer = c.request("DELETE", path("/apps/{}/volumes/{}?confirm={}", app, name, confirm))
    return Volume.model_validate(answer)


def volume_export(c: Client, app: str, name: str, dest: Path) -> int:
    """Write the volume's files as a tar to ``dest``; its size in bytes."""
    return c.download(_volume_path(app, name) + "/archive", dest)


def volume_import(c: Client, app: str, name: str, archive: Path) -> Imported:
    """Unpack the tar file ``archive`` into the volume."""
    return Imported.model_validate(c.upload(_volume_path(app, name) + "/archive", archive, {}))
