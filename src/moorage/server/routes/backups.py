"""``pg:backups``: captures, downloads, restores and the daily schedule (Moorage extension
endpoints in the Heroku style, under the add-on they belong to)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Annotated

import httpx
from fastapi import Body, Request, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from moorage.egress import Egress
from moorage.errors import InvalidParams, NotFound
from moorage.schemas.addons import Addon
from moorage.schemas.backups import Backup, Restored, RestoreRequest, ScheduleRequest
from moorage.server.background.addonkeeper import AddonKeeper, restore_into
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router, non_json
from moorage.server.services import addons as addon_service
from moorage.server.services import apps
from moorage.server.services import backups as service
from moorage.server.store.models import Addon as AddonRow
from moorage.server.store.models import User
from moorage.spec.status import BackupStatus
from moorage.spec.urls import shown_url

router = api_router()
BASE = "/apps/{ident}/addons/{addon}"


def _keeper(platform: Platform) -> AddonKeeper:
    if platform.keeper is None:
        raise NotFound("Backups need the add-on keeper of `moor server`.")
    return platform.keeper


def _addon(s: Session, user: User, ident: str, addon: str) -> AddonRow:
    found = addon_service.on_app(s, apps.get(s, user, ident), addon)
    service.require_postgres(found)
    return found


@router.get(BASE + "/backups")
def list_backups(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> list[Backup]:
    with platform.store.session() as s:
        return [service.view(b) for b in _addon(s, user, ident, addon).backups]


@router.post(BASE + "/backups", status_code=status.HTTP_201_CREATED)
def capture(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> Backup:
    with platform.store.session() as s:
        addon_id = _addon(s, user, ident, addon).id
    label, _ = _keeper(platform).capture(addon_id)
    with platform.store.session() as s:
        return service.view(service.get(s.get_one(AddonRow, addon_id), label))


@router.get(BASE + "/backups/{backup}")
def backup_info(
    ident: str, addon: str, backup: str, platform: PlatformDep, user: UserDep
) -> Backup:
    with platform.store.session() as s:
        return service.view(service.get(_addon(s, user, ident, addon), backup))


@router.delete(BASE + "/backups/{backup}")
def delete_backup(
    ident: str, addon: str, backup: str, platform: PlatformDep, user: UserDep
) -> Backup:
    with platform.store.session() as s:
        found = service.get(_addon(s, user, ident, addon), backup)
        if found.status == BackupStatus.RUNNING:
            raise InvalidParams(f"{found.label} is still running; delete it when it finished.")
        out = service.view(found)
        _keeper(platform).delete_files(found)
        s.delete(found)
    return out


@router.get(
    BASE + "/backups/{backup}/download",
    response_class=FileResponse,
    responses=non_json("The dump (pg_dump custom format).", "application/octet-stream"),
)
def download(
    ident: str, addon: str, backup: str, platform: PlatformDep, user: UserDep
) -> FileResponse:
    with platform.store.session() as s:
        found = service.get(_addon(s, user, ident, addon), backup)
        path = service.path_for(platform.settings.backups, found)
        name = f"{found.addon.name}-{found.label}.dump"
        if found.status != BackupStatus.COMPLETED or not path.exists():
            raise NotFound(f"{found.label} has no file to download (status {found.status}).")
    return FileResponse(path, media_type="application/octet-stream", filename=name)


def _confirm(app_name: str, given: object) -> None:
    if given != app_name:
        raise InvalidParams(
            f"Restoring overwrites the database of {app_name}: confirm with --confirm {app_name}."
        )


@router.post(BASE + "/actions/restore")
def restore(
    ident: str,
    addon: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[RestoreRequest | None, Body()] = None,
) -> Restored:
    """Restore ``{"backup": "b003"}`` (default: the latest) or ``{"url": "https://..."}``,
    with ``{"confirm": APP}``; the database is unchanged unless the restore succeeds."""
    body = body or RestoreRequest()
    url = body.url
    with platform.store.session() as s:
        found = _addon(s, user, ident, addon)
        _confirm(found.app.name, body.confirm)
        addon_id = found.id
        if url is None:
            label = body.backup
            chosen = (
                service.get(found, label) if label is not None else service.latest_completed(found)
            )
            if chosen.status != BackupStatus.COMPLETED:
                raise InvalidParams(f"{chosen.label} did not complete; pick another backup.")
            path, what = service.path_for(platform.settings.backups, chosen), chosen.label
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise InvalidParams("Restore from an http(s) URL, a backup id (b003) or a file.")
        what = shown_url(url)
        with _download(platform, url) as tmp:
            restore_into(_keeper(platform), addon_id, Path(tmp.name), what)
    else:
        restore_into(_keeper(platform), addon_id, path, what)
    return Restored(restored=what)


def _download(platform: Platform, url: str) -> IO[bytes]:
    """The file at ``url`` (public addresses only, see moorage/egress.py) in a temp file."""
    tmp = tempfile.NamedTemporaryFile(dir=_uploads(platform), suffix=".dump")
    egress = Egress(platform.settings.egress_allow)
    try:
        with httpx.Client(timeout=60) as client, egress.stream_get(client, url) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_bytes(1 << 20):
                tmp.write(chunk)
        tmp.flush()
    except InvalidParams:
        tmp.close()
        raise
    except httpx.HTTPError as exc:
        tmp.close()
        reason = (
            f"HTTP {exc.response.status_code}"
            if isinstance(exc, httpx.HTTPStatusError)
            else str(exc).replace(url, shown_url(url))
        )
        raise InvalidParams(f"Could not download {shown_url(url)}: {reason}") from exc
    return tmp


def _uploads(platform: Platform) -> Path:
    path = platform.settings.backups / "uploads"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@router.put(BASE + "/actions/restore")
async def restore_upload(
    ident: str,
    addon: str,
    request: Request,
    platform: PlatformDep,
    user: UserDep,
    confirm: str = "",
) -> Restored:
    """Restore the dump file sent as the request body (``pg:backups:restore ./file.dump``)."""

    def check() -> str:
        with platform.store.session() as s:
            found = _addon(s, user, ident, addon)
            _confirm(found.app.name, confirm)
            return found.id

    addon_id = await run_in_threadpool(check)
    with tempfile.NamedTemporaryFile(dir=_uploads(platform), suffix=".dump") as tmp:
        async for chunk in request.stream():
            tmp.write(chunk)
        tmp.flush()
        await run_in_threadpool(
            restore_into, _keeper(platform), addon_id, Path(tmp.name), "an uploaded file"
        )
    return Restored(restored="an uploaded file")


@router.put(BASE + "/backup-schedule")
def schedule(
    ident: str,
    addon: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[ScheduleRequest | None, Body()] = None,
) -> Addon:
    if body is None:
        raise InvalidParams(ScheduleRequest.hint)
    with platform.store.session() as s:
        found = _addon(s, user, ident, addon)
        clock = _keeper(platform).clock
        service.set_schedule(found, body.at, body.keep, clock())
        return addon_service.view(found)


@router.delete(BASE + "/backup-schedule")
def unschedule(ident: str, addon: str, platform: PlatformDep, user: UserDep) -> Addon:
    with platform.store.session() as s:
        found = _addon(s, user, ident, addon)
        found.backup_schedule = {}
        return addon_service.view(found)
