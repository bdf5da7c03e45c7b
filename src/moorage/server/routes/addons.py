"""Add-ons and add-on attachments (Heroku shapes), plus credential rotation and facts."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import status

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import addons as service
from moorage.server.services import apps, serialize
from moorage.server.services import dynos as dyno_service
from moorage.server.services.events import announce, converge
from moorage.server.store.models import User

router = api_router()


def _field(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, dict):  # {"plan": {"name": ...}}, {"app": {"name": ...}}
        value = value.get("name") or value.get("id")
    if value is not None and not isinstance(value, str):
        raise InvalidParams(f"{key} must be a string.")
    return value


def _released(platform: Platform, made: list[dict[str, Any]], user: User) -> None:
    """After the session committed: a reconciler pass and the release lines in the log."""
    converge(platform)
    for r in made:
        announce(platform, r, user)


@router.get("/apps/{ident}/addons")
def list_addons(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return [serialize.addon(a.addon) for a in service.attachments_of(s, app)]


@router.post("/apps/{ident}/addons", status_code=status.HTTP_201_CREATED)
def create_addon(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    plan = _field(body, "plan")
    if plan is None:
        raise InvalidParams('Send {"plan": "postgresql"} (or "redis").')
    attachment = body.get("attachment") if isinstance(body, dict) else None
    as_name = _field(attachment, "name") if isinstance(attachment, dict) else None
    with platform.store.session() as s:
        addon, release = service.create(
            s,
            apps.get(s, user, ident),
            user,
            plan,
            platform.providers,
            as_name=as_name,
            name=_field(body, "name"),
        )
        out, made = serialize.addon(addon), [serialize.release(release, release.version)]
    _released(platform, made, user)
    return out


@router.get("/apps/{ident}/addons/{addon}")
def addon_info(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        return serialize.addon(service.on_app(s, apps.get(s, user, ident), addon))


@router.get("/apps/{ident}/addons/{addon}/facts")
def addon_facts(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> dict[str, str]:
    """What ``pg:info`` / ``redis:info`` show, from the backing server (a Moorage extension)."""
    with platform.store.session() as s:
        found = service.on_app(s, apps.get(s, user, ident), addon)
        service_name, resource = found.service, found.resource
    return platform.providers[service_name].info(resource)


@router.delete("/apps/{ident}/addons/{addon}")
def destroy_addon(
    ident: str, addon: str, platform: PlatformDep, user: UserDep, force: bool = False
) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        if found.app_id != app.id:
            raise InvalidParams(
                f"{app.name} does not own {found.name}; detach it with "
                f"`moor addons:detach {found.name} -a {app.name}`."
            )
        out = serialize.addon(found)
        made = [
            serialize.release(r, r.version)
            for r in service.destroy(s, found, user, platform.providers, force=force)
        ]
    platform.remove_backups([out["id"]])  # once the add-on is gone for good (committed)
    _released(platform, made, user)
    return out


@router.post("/apps/{ident}/addons/{addon}/actions/rotate-credentials")
def rotate(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    """New credentials everywhere the add-on is attached; the old ones stop working once
    every attached app runs the new release (a Moorage extension, ``pg:credentials:rotate``)."""
    with platform.store.session() as s:
        found = service.on_app(s, apps.get(s, user, ident), addon)
        made = service.rotate(s, service.get(s, user, found.id), user, platform.providers)
        out = [serialize.release(r, r.version) for r in made]
    _released(platform, out, user)
    return out


@router.get("/apps/{ident}/addon-attachments")
def list_attachments(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [
            serialize.attachment(a) for a in service.attachments_of(s, apps.get(s, user, ident))
        ]


@router.get("/addon-attachments")
def account_attachments(platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    """Every attachment on the apps the caller may use (``heroku addons`` reads this)."""
    with platform.store.session() as s:
        return [
            serialize.attachment(a)
            for app in apps.list_for(s, user)
            for a in service.attachments_of(s, app)
        ]


@router.get("/addons/{addon}/addon-attachments")
def addon_attachments(addon: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [serialize.attachment(a) for a in service.get(s, user, addon).attachments]


@router.post("/addon-attachments", status_code=status.HTTP_201_CREATED)
def attach(platform: PlatformDep, user: UserDep, body: JsonBody = None) -> dict[str, Any]:
    addon, app_ident = _field(body, "addon"), _field(body, "app")
    if addon is None or app_ident is None:
        raise InvalidParams('Send {"addon": "ADDON", "app": "APP", "name": "NAME"}.')
    with platform.store.session() as s:
        found = service.get(s, user, addon)
        default = platform.providers[found.service].attachment
        att, release = service.attach(
            s, found, apps.get(s, user, app_ident), user, _field(body, "name"), default
        )
        out, made = serialize.attachment(att), [serialize.release(release, release.version)]
    _released(platform, made, user)
    return out


@router.delete("/apps/{ident}/addon-attachments/{addon}")
def detach(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        att = next(a for a in found.attachments if a.app_id == app.id)
        out = serialize.attachment(att)
        rel = service.detach(s, found, app, user)
        made = [serialize.release(rel, rel.version)]
    _released(platform, made, user)
    return out


@router.post("/apps/{ident}/addons/{addon}/actions/psql", status_code=status.HTTP_201_CREATED)
def psql(
    ident: str, addon: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """``pg:psql``: a one-off dyno running psql against the add-on, on the app's network,
    to attach to (``attach_url``); ``{"command": SQL}`` runs one statement without a TTY, and
    ``{"tty": false}`` reads SQL from stdin without one (input from a pipe or a file)."""
    from moorage.stack.builder import STACK_IMAGE

    sql_text = _field(body, "command")
    want_tty = body.get("tty", True) if isinstance(body, dict) else True
    if not isinstance(want_tty, bool):
        raise InvalidParams('"tty" is true or false.')
    if platform.sessions is None:
        raise InvalidParams("pg:psql needs the reconciler of `moor server`.")
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.on_app(s, app, addon)
        if found.service != "postgresql":
            raise InvalidParams(f"{found.name} is a {found.service} add-on, not postgresql.")
        argv = ["psql", "-v", "ON_ERROR_STOP=1", *(["-c", sql_text] if sql_text else [])]
        spec = dyno_service.oneoff_spec(
            s,
            app,
            "psql",
            env=_pg_env(found.url),
            attach=True,
            tty=sql_text is None and want_tty,
            argv=argv,
            image=STACK_IMAGE,
        )
    dyno = platform.sessions.start_oneoff(spec)
    with platform.store.session() as s:
        out = serialize.dyno(dyno, apps.get(s, user, ident))
    base = platform.settings.api_url.replace("http", "ws", 1)
    out["attach_url"] = f"{base}/apps/{spec.app}/dynos/{spec.type}.{spec.number}/attach" + (
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
