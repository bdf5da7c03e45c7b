"""Formation: how many dynos of each process type run, their size, command, port and check."""

from __future__ import annotations

from moorage.errors import InvalidParams
from moorage.schemas.releases import Formation, FormationBatch, FormationChange, FormationPatch
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import formation as service

router = api_router()


def _raw(update: FormationChange) -> dict[str, object]:
    """An update as the service parses it: only the keys that were given a value."""
    return update.model_dump(exclude_none=True)


@router.get("/apps/{ident}/formation")
def list_formation(ident: str, platform: PlatformDep, user: UserDep) -> list[Formation]:
    with platform.store.session() as s:
        return [service.view(f) for f in apps.get(s, user, ident).formations]


@router.get("/apps/{ident}/formation/{ptype}")
def formation_info(ident: str, ptype: str, platform: PlatformDep, user: UserDep) -> Formation:
    with platform.store.session() as s:
        return service.view(service.get(apps.get(s, user, ident), ptype))


@router.patch("/apps/{ident}/formation")
def batch_update(
    ident: str, platform: PlatformDep, user: UserDep, body: FormationBatch
) -> list[Formation]:
    return service.apply_updates(platform, user, ident, [_raw(u) for u in body.updates])


@router.patch("/apps/{ident}/formation/{ptype}")
def update_one(
    ident: str, ptype: str, platform: PlatformDep, user: UserDep, body: FormationPatch
) -> Formation:
    if ptype == "release":  # a phase, not a formation: there is nothing to answer with
        raise InvalidParams(
            "The release phase has no formation. Set its command with PATCH "
            f'/apps/{ident}/formation and {{"updates": [{{"type": "release", "command": ...}}]}}.'
        )
    return service.apply_updates(platform, user, ident, [{**_raw(body), "type": ptype}])[0]
