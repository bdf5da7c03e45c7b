"""``pg:backups``: list, capture, info, download, restore, delete, and the daily schedule."""

from __future__ import annotations

from pathlib import Path

from moorage.client.addons import addon_path
from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.addons import Addon
from moorage.schemas.backups import Backup, Restored, RestoreRequest, ScheduleRequest

_BACKUPS = Shape(list[Backup])


def _backup_path(app: str, addon: str, backup: str) -> str:
    return path("/apps/{}/addons/{}/backups/{}", app, addon, backup)


def backups(c: Client, app: str, addon: str) -> list[Backup]:
    return _BACKUPS.validate_python(c.request("GET", addon_path(app, addon) + "/backups"))


def capture(c: Client, app: str, addon: str) -> Backup:
    """Start a capture; it runs on (see :func:`backup` for its progress)."""
    return Backup.model_validate(c.request("POST", addon_path(app, addon) + "/backups"))


def backup(c: Client, app: str, addon: str, label: str) -> Backup:
    return Backup.model_validate(c.request("GET", _backup_path(app, addon, label)))


def delete(c: Client, app: str, addon: str, label: str) -> Backup:
    return Backup.model_validate(c.request("DELETE", _backup_path(app, addon, label)))


def download(c: Client, app: str, addon: str, label: str, dest: Path) -> int:
    """Write the backup's dump to ``dest``; its size in bytes."""
    return c.download(_backup_path(app, addon, label) + "/download", dest)


def restore(
    c: Client, app: str, addon: str, *, confirm: str, backup: str | None, url: str | None
) -> Restored:
    """Restore a backup (None: the latest completed) or the dump at ``url``; waits as long
    as the restore takes."""
    body = RestoreRequest(backup=backup, url=url, confirm=confirm).model_dump(exclude_none=True)
    answer = c.request("POST", addon_path(app, addon) + "/actions/restore", body, slow=True)
    return Restored.model_validate(answer)


def restore_file(c: Client, app: str, addon: str, source: Path, *, confirm: str) -> Restored:
    """Upload the dump file ``source`` and restore it."""
    answer = c.upload(addon_path(app, addon) + "/actions/restore", source, {"confirm": confirm})
    return Restored.model_validate(answer)


def schedule(c: Client, app: str, addon: str, at: str, keep: int | None) -> Addon:
    """Daily backups at ``at`` (``02:00 UTC``), keeping ``keep``; the add-on shows the
    schedule under ``moorage.backup_schedule``."""
    body = ScheduleRequest(at=at, keep=keep).model_dump()
    return Addon.model_validate(c.request("PUT", addon_path(app, addon) + "/backup-schedule", body))


def unschedule(c: Client, app: str, addon: str) -> Addon:
    return Addon.model_validate(c.request("DELETE", addon_path(app, addon) + "/backup-schedule"))
