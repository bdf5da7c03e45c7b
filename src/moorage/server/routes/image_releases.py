"""Releases from prebuilt images and the registry credentials they are pulled with (Moorage
extension endpoints in the Heroku style).

``POST /apps/{app}/image-releases`` with ``{"updates": [{"type": "web", "image": "redis:7"}]}``
answers at once with a pending job; the platform copies each image into its registry and
releases, and ``GET /apps/{app}/image-releases/{id}`` tells how far it got (``output``).
"""

from __future__ import annotations

from typing import Any

from fastapi import status

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import image_releases as service
from moorage.server.store.models import RegistryLogin

router = api_router()


@router.post("/apps/{ident}/image-releases", status_code=status.HTTP_201_CREATED)
def create_image_release(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """Copy the named images into the platform's registry, then release them."""
    updates = service.parse_updates(body.get("updates") if isinstance(body, dict) else None)
    jobs = platform.images
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        job = service.create(s, app, user, updates)
        out = service.serialize(job, app, [])
    jobs.submit(out["id"])
    return out


@router.get("/apps/{ident}/image-releases/{job}")
def image_release_info(
    ident: str, job: str, platform: PlatformDep, user: UserDep
) -> dict[str, Any]:
    jobs = platform.images
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.get(s, app, job)
        return service.serialize(found, app, jobs.output(found.id))


def _login(row: RegistryLogin) -> dict[str, Any]:
    """Host and user only: the password is never sent back."""
    return {"host": row.host, "username": row.username, "updated_at": row.updated_at.isoformat()}


@router.get("/apps/{ident}/registry-logins")
def list_registry_logins(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [_login(r) for r in service.list_logins(s, apps.get(s, user, ident))]


@router.put("/apps/{ident}/registry-logins/{host}")
def set_registry_login(
    ident: str, host: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """Credentials the platform pulls this app's images from ``host`` with (stored sealed)."""
    username = body.get("username") if isinstance(body, dict) else None
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidParams('Send {"username": "...", "password": "..."}.')
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        row = service.set_login(s, app, service.registry_host(host), username, password)
        return _login(row)


@router.delete("/apps/{ident}/registry-logins/{host}")
def remove_registry_login(
    ident: str, host: str, platform: PlatformDep, user: UserDep
) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        service.remove_login(s, app, service.registry_host(host))
        return {"host": service.registry_host(host)}
