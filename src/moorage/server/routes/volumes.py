"""Persistent volumes (Moorage extension endpoints in the Heroku style): ``moor volumes``,
``volumes:create``, ``volumes:mount``/``unmount``, ``volumes:destroy``, and their files as
a tar stream for ``volumes:export``/``volumes:import``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated

from fastapi import Body, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from moorage.errors import InvalidParams, NotFound, PayloadTooLarge
from moorage.schemas.volumes import Imported, Volume, VolumeCreate, VolumeUpdate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router, non_json
from moorage.server.services import apps, releases
from moorage.server.services import volumes as service
from moorage.server.services.events import converge
from moorage.server.store.models import User

router = api_router()
BASE = "/apps/{ident}/volumes"


def _usage(platform: Platform) -> dict[tuple[str, str], int]:
    return platform.reconciler.volume_usage() if platform.reconciler is not None else {}


@router.get(BASE)
def list_volumes(ident: str, platform: PlatformDep, user: UserDep) -> list[Volume]:
    used = _usage(platform)
    with platform.store.session() as s:
        return [service.view(v, used) for v in apps.get(s, user, ident).volumes]


@router.post(BASE, status_code=status.HTTP_201_CREATED)
def create_volume(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[VolumeCreate | None, Body()] = None,
) -> Volume:
    """``{"name": "pgdata", "size": "1GB"}``, optionally mounted at once with
    ``"process_type"`` and ``"path"``."""
    if body is None:
        raise InvalidParams(VolumeCreate.hint)
    name, path, ptype = body.name, body.path, body.process_type
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        v = service.create(s, app, name, body.size)
        if path is not None or ptype is not None:
            if path is None or ptype is None:
                raise InvalidParams('Mount with both "path" and "process_type".')
            service.mount(s, app, name, path, ptype)
        out = service.view(v, {})
    converge(platform)
    return out


@router.patch(BASE + "/{name}")
def update_volume(
    ident: str,
    name: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[VolumeUpdate | None, Body()] = None,
) -> Volume:
    """Mount with ``{"process_type": "db", "path": "/data"}``; unmount with both null."""
    body = body or VolumeUpdate()
    path, ptype = body.path, body.process_type
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if path is None and ptype is None:
            v = service.unmount(s, app, name)
        elif path is None or ptype is None:
            raise InvalidParams('Mount with both "path" and "process_type", unmount with none.')
        else:
            v = service.mount(s, app, name, path, ptype)
        out = service.view(v, {})
    converge(platform)
    return out


@router.delete(BASE + "/{name}")
def destroy_volume(
    ident: str, name: str, platform: PlatformDep, user: UserDep, confirm: str = ""
) -> Volume:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if confirm != app.name:
            raise InvalidParams(
                f"Destroying a volume deletes its files: confirm with --confirm {app.name}."
            )
        out = service.view(service.find(app, name), {})
        service.destroy(s, app, name)
    converge(platform)
    return out


def _image(platform: Platform, user: User, ident: str, name: str) -> tuple[str, str, str]:
    """(app, volume, an image of the app's current release) for a helper container."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        v = service.find(app, name)
        rel = releases.current(s, app)
        images = rel.images if rel is not None else {}
        image = images.get(v.process_type or "web") or next(iter(images.values()), None)
        if image is None:
            raise NotFound(f"{app.name} has no release yet, so volume {name} has no files.")
        return app.name, v.name, image


@router.get(
    BASE + "/{name}/archive",
    response_class=StreamingResponse,
    responses=non_json("The volume's files (tar).", "application/x-tar"),
)
def export_volume(ident: str, name: str, platform: PlatformDep, user: UserDep) -> StreamingResponse:
    app, volume, image = _image(platform, user, ident, name)
    if platform.reconciler is None:
        raise NotFound("This server runs no dynos, so it holds no volumes.")
    stream: Iterator[bytes] = platform.reconciler.export_volume(app, volume, image)
    first = next(stream, b"")  # errors (no files yet) answer as errors, before the 200
    return StreamingResponse(_chain(first, stream), media_type="application/x-tar")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


@router.put(BASE + "/{name}/archive")
async def import_volume(
    ident: str, name: str, request: Request, platform: PlatformDep, user: UserDep
) -> Imported:
    """Unpack the tar sent as the body into the volume (``volumes:import``)."""
    app, volume, image = await run_in_threadpool(_image, platform, user, ident, name)
    limit = await run_in_threadpool(_size_limit, platform, user, ident, name)
    with tempfile.TemporaryFile() as tmp:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(
                    f"The archive is larger than volume {name} ({limit >> 20} MB); create a "
                    "bigger volume and import it there."
                )
            tmp.write(chunk)
        tmp.seek(0)
        if platform.reconciler is None:
            raise NotFound("This server runs no dynos, so it holds no volumes.")
        await run_in_threadpool(platform.reconciler.import_volume, app, volume, image, tmp.read())
    converge(platform)
    return Imported(imported=size)


def _size_limit(platform: Platform, user: User, ident: str, name: str) -> int:
    with platform.store.session() as s:
        return service.find(apps.get(s, user, ident), name).size_mb << 20
