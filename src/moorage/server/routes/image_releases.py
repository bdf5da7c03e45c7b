"""Releases from prebuilt images and the registry credentials they are pulled with (Moorage
extension endpoints in the Heroku style).

``POST /apps/{app}/image-releases`` with ``{"updates": [{"type": "web", "image": "redis:7"}]}``
answers at once with a pending job; the platform copies each image into its registry and
releases, and ``GET /apps/{app}/image-releases/{id}`` tells how far it got (``output``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, status

from moorage.schemas.images import (
    ImageRelease,
    ImageReleaseCreate,
    RegistryHost,
    RegistryLogin,
    RegistryLoginSet,
)
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import image_releases as service

router = api_router()


@router.post("/apps/{ident}/image-releases", status_code=status.HTTP_201_CREATED)
def create_image_release(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[ImageReleaseCreate | None, Body()] = None,
) -> ImageRelease:
    """Copy the named images into the platform's registry, then release them."""
    raw = [u.model_dump(exclude_none=True) for u in body.updates] if body is not None else None
    updates = service.parse_updates(raw)
    jobs = platform.images
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        job = service.create(s, app, user, updates)
        out = service.view(job, app, [])
    jobs.submit(out.id)
    return out


@router.get("/apps/{ident}/image-releases/{job}")
def image_release_info(ident: str, job: str, platform: PlatformDep, user: UserDep) -> ImageRelease:
    jobs = platform.images
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.get(s, app, job)
        return service.view(found, app, jobs.output(found.id))


@router.get("/apps/{ident}/registry-logins")
def list_registry_logins(ident: str, platform: PlatformDep, user: UserDep) -> list[RegistryLogin]:
    with platform.store.session() as s:
        return [service.view_login(r) for r in service.list_logins(s, apps.get(s, user, ident))]


@router.put("/apps/{ident}/registry-logins/{host}")
def set_registry_login(
    ident: str, host: str, platform: PlatformDep, user: UserDep, body: RegistryLoginSet
) -> RegistryLogin:
    """Credentials the platform pulls this app's images from ``host`` with (stored sealed)."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        row = service.set_login(s, app, service.registry_host(host), body.username, body.password)
        return service.view_login(row)


@router.delete("/apps/{ident}/registry-logins/{host}")
def remove_registry_login(
    ident: str, host: str, platform: PlatformDep, user: UserDep
) -> RegistryHost:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        service.remove_login(s, app, service.registry_host(host))
        return RegistryHost(host=service.registry_host(host))
