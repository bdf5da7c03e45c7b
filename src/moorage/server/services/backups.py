"""Backup records of ``postgresql`` add-ons: ids, files, schedule and retention.

The capture itself (pg_dump in a consistent snapshot, then a verifying restore) runs in the
add-on keeper's worker thread (``moorage.server.background.addonkeeper``); this module only
reads and writes the records and knows where the files are.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from moorage.errors import Conflict, InvalidParams, NotFound
from moorage.schemas import backups as schema
from moorage.schemas.base import Ref
from moorage.server.store.models import Addon, Backup
from moorage.spec.status import AddonService, BackupStatus

AT_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})(?:\s+(\S+))?$")
LABEL_RE = re.compile(r"^[bB]?0*(\d{1,6})$")
DEFAULT_KEEP = 7


def view(b: Backup) -> schema.Backup:
    """The backup as the API shows it; its id is its label (``b003``)."""
    return schema.Backup(
        id=b.label,
        num=b.num,
        addon=Ref.of(b.addon),
        trigger=b.trigger,
        status=BackupStatus(b.status),
        verified=b.verified,
        detail=b.detail,
        size=b.size,
        seconds=round(b.seconds, 2),
        tables={k: schema.TableSum.model_validate(v) for k, v in b.tables.items()},
        started_at=b.started_at,
        finished_at=b.finished_at,
    )


def path_for(root: Path, backup: Backup) -> Path:
    return root / backup.addon_id / f"{backup.label}.dump"


def require_postgres(addon: Addon) -> None:
    if addon.service != AddonService.POSTGRESQL:
        raise InvalidParams(
            f"{addon.name} is a {addon.service} add-on; backups are for postgresql."
        )


def start(session: Session, addon: Addon, trigger: str) -> Backup:
    """A new ``running`` record ``b<N>`` (one capture at a time per add-on)."""
    require_postgres(addon)
    if any(b.status == BackupStatus.RUNNING for b in addon.backups):
        raise Conflict(f"A backup of {addon.name} is already running; wait for it to finish.")
    addon.backup_seq += 1
    backup = Backup(addon_id=addon.id, num=addon.backup_seq, trigger=trigger)
    addon.backups.append(backup)
    session.flush()
    return backup


def get(addon: Addon, ident: str) -> Backup:
    match = LABEL_RE.fullmatch(ident.strip())
    found = next((b for b in addon.backups if match and b.num == int(match.group(1))), None)
    if found is None:
        raise NotFound(f"{addon.name} has no backup {ident}. See `moor pg:backups -a APP`.")
    return found


def latest_completed(addon: Addon) -> Backup:
    done = [b for b in addon.backups if b.status == BackupStatus.COMPLETED]
    if not done:
        raise NotFound(f"{addon.name} has no completed backup; capture one first.")
    return done[-1]


def parse_at(text: str) -> tuple[int, int, str]:
    """``'02:30 Europe/Paris'`` -> (2, 30, 'Europe/Paris'); the zone defaults to UTC."""
    match = AT_RE.fullmatch(text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise InvalidParams(f"--at {text!r} is not 'HH:MM TZ' (for example '02:00 UTC').")
    tz = match.group(3) or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "America", a folder
        raise InvalidParams(
            f"Unknown time zone {tz[:80]!r}; use a name like Europe/Berlin."
        ) from exc
    return int(match.group(1)), int(match.group(2)), tz


def set_schedule(addon: Addon, at: str, keep: int | None, now: datetime) -> None:
    require_postgres(addon)
    hour, minute, tz = parse_at(at)
    if keep is not None and not 1 <= keep <= 1000:
        raise InvalidParams("--keep must be between 1 and 1000.")
    addon.backup_schedule = {
        "at": f"{hour:02d}:{minute:02d}",
        "tz": tz,
        "keep": keep or DEFAULT_KEEP,
        "since": now.isoformat(),
    }


def next_due(schedule: dict[str, object], after: datetime) -> datetime:
    """The first time after ``after`` (naive UTC) when the daily schedule fires (naive UTC)."""
    hour, minute = (int(x) for x in str(schedule["at"]).split(":"))
    zone = ZoneInfo(str(schedule["tz"]))
    local = after.replace(tzinfo=UTC).astimezone(zone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour, minute=minute)
    return candidate.astimezone(UTC).replace(tzinfo=None)


def expired(addon: Addon) -> list[Backup]:
    """Backups beyond the retention: older completed ones past ``keep``, and failed ones
    older than the oldest kept backup."""
    keep = (
        int(addon.backup_schedule.get("keep", DEFAULT_KEEP))
        if addon.backup_schedule
        else DEFAULT_KEEP
    )
    done = [b for b in addon.backups if b.status == BackupStatus.COMPLETED]
    kept = done[-keep:]
    oldest = kept[0].num if kept else 0
    return [
        b
        for b in addon.backups
        if (b.status == BackupStatus.COMPLETED and b not in kept)
        or (b.status == BackupStatus.FAILED and b.num < oldest)
    ]
