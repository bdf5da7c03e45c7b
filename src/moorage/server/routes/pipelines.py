"""Pipelines, pipeline couplings and pipeline promotions, in the Heroku API's shapes (what
the unmodified ``heroku pipelines:*`` commands send), plus the two lookups those commands
make on the way: ``GET /users/~`` and ``POST /filters/apps``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, status

from moorage.errors import InvalidParams, NotFound
from moorage.schemas.apps import Account, App
from moorage.schemas.pipelines import (
    Coupling,
    CouplingCreate,
    CouplingUpdate,
    Pipeline,
    PipelineCreate,
    PipelineUpdate,
    Promotion,
    PromotionCreate,
    PromotionTarget,
)
from moorage.schemas.releases import Release
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps, auth, pipelines, promotions, releases
from moorage.server.services.events import announce, converge, emit

router = api_router()


@router.get("/pipelines")
def list_pipelines(
    platform: PlatformDep,
    user: UserDep,
    name: Annotated[str | None, Query(alias="eq[name]")] = None,
) -> list[Pipeline]:
    """The pipelines the caller sees; ``?eq[name]=NAME`` (as the Heroku CLI asks) only it."""
    with platform.store.session() as s:
        found = pipelines.visible(s, user)
        return [pipelines.view(p) for p in found if name is None or p.name == name]


@router.post("/pipelines", status_code=status.HTTP_201_CREATED)
def create_pipeline(platform: PlatformDep, user: UserDep, body: PipelineCreate) -> Pipeline:
    """A pipeline owned by the caller (Heroku's ``owner`` and ``generation`` are ignored:
    there are no teams)."""
    with platform.store.session() as s:
        return pipelines.view(pipelines.create(s, user, body.name))


@router.get("/pipelines/{ident}")
def pipeline_info(ident: str, platform: PlatformDep, user: UserDep) -> Pipeline:
    with platform.store.session() as s:
        return pipelines.view(pipelines.get(s, user, ident))


@router.patch("/pipelines/{ident}")
def update_pipeline(
    ident: str, platform: PlatformDep, user: UserDep, body: PipelineUpdate
) -> Pipeline:
    with platform.store.session() as s:
        found = pipelines.managed(s, user, ident)
        return pipelines.view(pipelines.rename(s, found, body.name))


@router.delete("/pipelines/{ident}")
def destroy_pipeline(ident: str, platform: PlatformDep, user: UserDep) -> Pipeline:
    with platform.store.session() as s:
        found = pipelines.managed(s, user, ident)
        out = pipelines.view(found)
        pipelines.destroy(s, found)
        return out


@router.get("/pipelines/{ident}/pipeline-couplings")
def pipeline_couplings(ident: str, platform: PlatformDep, user: UserDep) -> list[Coupling]:
    with platform.store.session() as s:
        found = pipelines.get(s, user, ident)
        rows = sorted(found.couplings, key=lambda c: (c.stage, c.app.name))
        return [pipelines.view_coupling(c) for c in rows]


@router.get("/pipelines/{ident}/latest-releases")
def latest_releases(ident: str, platform: PlatformDep, user: UserDep) -> list[Release]:
    """The current release of each of the pipeline's apps the caller may use."""
    with platform.store.session() as s:
        found = pipelines.get(s, user, ident)
        usable = sorted(c.app.name for c in found.couplings if apps.may_use(c.app, user))
        current = [releases.current(s, apps.get(s, user, name)) for name in usable]
        return [releases.view(r, r.version) for r in current if r is not None]


@router.get("/pipeline-couplings")
def list_couplings(platform: PlatformDep, user: UserDep) -> list[Coupling]:
    """The couplings of the apps the caller may use."""
    with platform.store.session() as s:
        return [pipelines.view_coupling(c) for c in pipelines.for_user(s, user)]


@router.post("/pipeline-couplings", status_code=status.HTTP_201_CREATED)
def create_coupling(platform: PlatformDep, user: UserDep, body: CouplingCreate) -> Coupling:
    with platform.store.session() as s:
        found = pipelines.get(s, user, body.pipeline)
        return pipelines.view_coupling(pipelines.couple(s, user, body.app, found, body.stage))


@router.get("/pipeline-couplings/{ident}")
def coupling_info(ident: str, platform: PlatformDep, user: UserDep) -> Coupling:
    with platform.store.session() as s:
        return pipelines.view_coupling(pipelines.coupling(s, user, ident))


@router.patch("/pipeline-couplings/{ident}")
def update_coupling(
    ident: str, platform: PlatformDep, user: UserDep, body: CouplingUpdate
) -> Coupling:
    with platform.store.session() as s:
        row = pipelines.set_stage(s, pipelines.coupling(s, user, ident), body.stage)
        return pipelines.view_coupling(row)


@router.delete("/pipeline-couplings/{ident}")
def remove_coupling(ident: str, platform: PlatformDep, user: UserDep) -> Coupling:
    with platform.store.session() as s:
        row = pipelines.coupling(s, user, ident)
        out = pipelines.view_coupling(row)
        pipelines.uncouple(s, row)
        return out


@router.get("/apps/{ident}/pipeline-couplings")
def app_coupling(ident: str, platform: PlatformDep, user: UserDep) -> Coupling:
    with platform.store.session() as s:
        return pipelines.view_coupling(pipelines.for_app(s, user, ident))


@router.post("/pipeline-promotions", status_code=status.HTTP_201_CREATED)
def create_promotion(platform: PlatformDep, user: UserDep, body: PromotionCreate) -> Promotion:
    """Release the source app's current release on each target (all checked first)."""
    targets = [t.app.id for t in body.targets]
    with platform.store.session() as s:
        plan = promotions.plan(s, user, body.pipeline.id, body.source.app.id, targets)
        promotion, made = promotions.execute(s, user, plan, platform.registry)
        out = promotions.view(s, promotion)
        announced = [releases.view(r, r.version) for r in made]
        source, version = plan.source.name, plan.release.version
    for rel in announced:
        announce(platform, rel, user)
    if announced:
        to = ", ".join(r.app.name for r in announced)
        emit(platform, source, f"Promoted v{version} to {to} by user {user.email}")
    converge(platform)
    return out


@router.get("/pipeline-promotions/{ident}")
def promotion_info(ident: str, platform: PlatformDep, user: UserDep) -> Promotion:
    with platform.store.session() as s:
        return promotions.view(s, promotions.get(s, user, ident))


@router.get("/pipeline-promotions/{ident}/promotion-targets")
def promotion_targets(ident: str, platform: PlatformDep, user: UserDep) -> list[PromotionTarget]:
    with platform.store.session() as s:
        return promotions.view_targets(s, promotions.get(s, user, ident))


@router.get("/users/{ident}")
def user_info(ident: str, user: UserDep) -> Account:
    """The caller's account (``~``, their id or email); other users are not shown."""
    if ident not in ("~", user.id, user.email):
        raise NotFound(f"Couldn't find that user: {ident[:60]}.")
    return auth.view_account(user)


@router.post("/filters/apps")
def filter_apps(
    platform: PlatformDep, user: UserDep, body: Annotated[Any, Body()] = None
) -> list[App]:
    """Apps by id (``{"in": {"id": [...]}}``), those the caller may use, as the Heroku CLI
    asks for a pipeline's apps."""
    where = body.get("in") if isinstance(body, dict) else None
    ids = where.get("id") if isinstance(where, dict) else None
    if not isinstance(ids, list) or len(ids) > 1000 or not all(isinstance(i, str) for i in ids):
        raise InvalidParams('Send {"in": {"id": ["<app id>", ...]}} (at most 1000 ids).')
    with platform.store.session() as s:
        found = [a for a in apps.list_for(s, user) if a.id in set(ids)]
        return [apps.view(a, platform.settings) for a in found]
