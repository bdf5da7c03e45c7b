"""Add-ons and add-on attachments (Heroku shapes), plus credential rotation and facts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import Body, status

from moorage.errors import InvalidParams
from moorage.schemas.addons import (
    Addon,
    AddonCreate,
    Attachment,
    AttachmentCreate,
    AttachmentName,
    PsqlRequest,
    name_of,
)
from moorage.schemas.releases import Dyno, Release
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import addons as service
from moorage.server.services import apps, databases, releases
from moorage.server.services import dynos as dyno_service
from moorage.server.services.events import announce, converge
from moorage.server.store.models import User
from moorage.spec.status import AddonService

router = api_router()


def _released(platform: Platform, made: list[Release], user: User) -> list[Release]:
    """After the session committed: a reconciler pass and the release lines in the log."""
    converge(platform)
    for r in made:
        announce(platform, r, user)
    return made


@router.get("/apps/{ident}/addons")
def list_addons(ident: str, platform: PlatformDep, user: UserDep) -> list[Addon]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return [service.view(a) for a in service.listed(s, app)]


@router.post("/apps/{ident}/addons", status_code=status.HTTP_201_CREATED)
def create_addon(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[AddonCreate | None, Body()] = None,
) -> Addon:
    plan = name_of(body.plan) if body is not None else None
    if body is None or plan is None:
        raise InvalidParams(AddonCreate.hint)
    as_name = body.attachment.name if body.attachment is not None else None
    with platform.store.session() as s:
        addon, release = service.create(
            s,
            apps.get(s, user, ident),
            user,
            plan,
            platform.providers,
            as_name=as_name,
            name=body.name,
            config=dict(body.config or {}),
        )
        out, made = service.view(addon), [releases.view(release, release.version)]
    _released(platform, made, user)
    return out


@router.get("/apps/{ident}/addons/{addon}")
def addon_info(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> Addon:
    with platform.store.session() as s:
        return service.view(service.on_app(s, apps.get(s, user, ident), addon))


@router.get("/apps/{ident}/addons/{addon}/facts")
def addon_facts(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> dict[str, str]:
    """What ``pg:info`` / ``redis:info`` show, from the backing server (a Moorage extension)."""
    with platform.store.session() as s:
        found = service.on_app(s, apps.get(s, user, ident), addon)
        service_name, resource = found.service, found.resource
        names = databases.relations(s, found)
    facts = platform.providers[service_name].info(resource)
    return {**facts, **{k: v for k, v in names.items() if k in facts or k == "Followers"}}


@router.post("/apps/{ident}/addons/{addon}/actions/promote")
def promote(
    ident: str, addon: str, platform: PlatformDep, user: UserDep, force: bool = False
) -> Release:
    """``pg:promote``: the follower stops following and becomes DATABASE_URL (a release)."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        made = databases.promote(s, found, app, user, platform.providers, force=force)
        out = releases.view(made, made.version)
    return _released(platform, [out], user)[0]


@router.post("/apps/{ident}/addons/{addon}/actions/connection-pooling")
def connection_pooling(
    ident: str,
    addon: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[AttachmentName | None, Body()] = None,
) -> Attachment:
    """``pg:connection-pooling:attach``: PgBouncer in front of the database, its URL in the
    app's config as ``DATABASE_CONNECTION_POOL_URL`` (or ``<name>_URL``), a new release."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        as_name = body.name if body is not None else None
        att, made = databases.attach_pool(s, found, app, user, platform.providers, as_name)
        out, rel = service.view_attachment(att), releases.view(made, made.version)
    _released(platform, [rel], user)
    return out


@router.post("/apps/{ident}/addons/{addon}/actions/unfollow")
def unfollow(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> Addon:
    """``pg:unfollow``: the follower stops following and takes writes; no config changes."""
    with platform.store.session() as s:
        found = service.on_app(s, apps.get(s, user, ident), addon)
        databases.unfollow(s, found, platform.providers)
        return service.view(found)


@router.delete("/apps/{ident}/addons/{addon}")
def destroy_addon(
    ident: str, addon: str, platform: PlatformDep, user: UserDep, force: bool = False
) -> Addon:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        if found.app_id != app.id:
            raise InvalidParams(
                f"{app.name} does not own {found.name}; detach it with "
                f"`moor addons:detach {found.name} -a {app.name}`."
            )
        out = service.view(found)
        made = [
            releases.view(r, r.version)
            for r in service.destroy(s, found, user, platform.providers, force=force)
        ]
    platform.remove_backups([out.id])  # once the add-on is gone for good (committed)
    _released(platform, made, user)
    return out


@router.post("/apps/{ident}/addons/{addon}/actions/rotate-credentials")
def rotate(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> list[Release]:
    """New credentials everywhere the add-on is attached; the old ones stop working once
    every attached app runs the new release (a Moorage extension, ``pg:credentials:rotate``)."""
    with platform.store.session() as s:
        found = service.on_app(s, apps.get(s, user, ident), addon)
        made = service.rotate(s, service.get(s, user, found.id), user, platform.providers)
        out = [releases.view(r, r.version) for r in made]
    return _released(platform, out, user)


@router.get("/apps/{ident}/addon-attachments")
def list_attachments(ident: str, platform: PlatformDep, user: UserDep) -> list[Attachment]:
    with platform.store.session() as s:
        return [
            service.view_attachment(a) for a in service.attachments_of(s, apps.get(s, user, ident))
        ]


@router.get("/addon-attachments")
def account_attachments(platform: PlatformDep, user: UserDep) -> list[Attachment]:
    """Every attachment on the apps the caller may use (``heroku addons`` reads this)."""
    with platform.store.session() as s:
        return [
            service.view_attachment(a)
            for app in apps.list_for(s, user)
            for a in service.attachments_of(s, app)
        ]


@router.get("/addons/{addon}/addon-attachments")
def addon_attachments(addon: str, platform: PlatformDep, user: UserDep) -> list[Attachment]:
    with platform.store.session() as s:
        return [service.view_attachment(a) for a in service.get(s, user, addon).attachments]


@router.post("/addon-attachments", status_code=status.HTTP_201_CREATED)
def attach(
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[AttachmentCreate | None, Body()] = None,
) -> Attachment:
    addon = name_of(body.addon) if body is not None else None
    app_ident = name_of(body.app) if body is not None else None
    if body is None or addon is None or app_ident is None:
        raise InvalidParams(AttachmentCreate.hint)
    with platform.store.session() as s:
        found = service.get(s, user, addon)
        default = platform.providers[found.service].attachment
        att, release = service.attach(
            s, found, apps.get(s, user, app_ident), user, body.name, default
        )
        out, made = service.view_attachment(att), [releases.view(release, release.version)]
    _released(platform, made, user)
    return out


@router.delete("/apps/{ident}/addon-attachments/{addon}")
def detach(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> Attachment:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        out = service.view_attachment(service.attachment_on(found, app, addon))
        rel = service.detach(s, found, app, user, addon, platform.providers)
        made = [releases.view(rel, rel.version)]
    _released(platform, made, user)
    return out


@router.post("/apps/{ident}/addons/{addon}/actions/psql", status_code=status.HTTP_201_CREATED)
def psql(
    ident: str,
    addon: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[PsqlRequest | None, Body()] = None,
) -> Dyno:
    """``pg:psql``: a one-off dyno running psql against the add-on, on the app's network,
    to attach to (``attach_url``); ``{"command": SQL}`` runs one statement without a TTY, and
    ``{"tty": false}`` reads SQL from stdin without one (input from a pipe or a file)."""
    from moorage.stack.builder import STACK_IMAGE

    body = body or PsqlRequest()
    if platform.sessions is None:
        raise InvalidParams("pg:psql needs the reconciler of `moor server`.")
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        if found.service != AddonService.POSTGRESQL:
            raise InvalidParams(f"{found.name} is a {found.service} add-on, not postgresql.")
        sql_text = body.command
        argv = ["psql", "-v", "ON_ERROR_STOP=1", *(["-c", sql_text] if sql_text else [])]
        spec = dyno_service.oneoff_spec(
            s,
            app,
            "psql",
            env=_pg_env(found.url),
            attach=True,
            tty=sql_text is None and body.tty,
            argv=argv,
            image=STACK_IMAGE,
        )
    dyno = platform.sessions.start_oneoff(spec)
    with platform.store.session() as s:
        out = dyno_service.view(dyno, apps.get(s, user, ident))
    base = platform.settings.api_url.replace("http", "ws", 1)
    out.attach_url = f"{base}/apps/{spec.app}/dynos/{spec.label}/attach" + (
        "" if spec.tty else "?tty=0"
    )
    return out


def _pg_env(url: str) -> dict[str, str]:
    """libpq's variables for ``url`` (the password stays out of the command line)."""
    parts = urlsplit(url)
    return {
        "PGHOST": parts.hostname or "",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": parts.path.lstrip("/"),
        "PGCONNECT_TIMEOUT": "10",
    }
