"""``pg:backups`` of postgresql add-ons (``/apps/{app}/addons/{addon}/backups``), restores
and the daily schedule: Moorage extensions in the Heroku style."""

from __future__ import annotations

from pydantic import StrictInt

from moorage.schemas.base import Body, Ref, Resource, Timestamp
from moorage.spec.status import BackupStatus


class TableSum(Resource):
    """One table of a dump: its rows and an order-independent checksum of them."""

    rows: int
    checksum: str


class Backup(Resource):
    """A capture (``b003``); ``verified`` says how its test restore compared: pending,
    verified, mismatch or error (with ``detail``)."""

    id: str
    num: int
    addon: Ref
    trigger: str
    status: BackupStatus
    verified: str
    detail: str
    size: int
    seconds: float
    tables: dict[str, TableSum]
    started_at: Timestamp
    finished_at: Timestamp


class Restored(Resource):
    """What a restore put into the database: a backup id, a URL (without secrets) or
    ``an uploaded file``."""

    restored: str


class RestoreRequest(Body):
    """``pg:backups:restore``: a backup (default the latest completed) or an http(s) URL,
    with the app's name as ``confirm``."""

    hint = 'Send {"backup": "b003"} or {"url": "https://..."}, with {"confirm": "APP"}.'
    backup: str | None = None
    url: str | None = None
    confirm: str | None = None


class ScheduleRequest(Body):
    """``pg:backups:schedule``: daily at ``at`` (``02:00 Europe/Paris``), keeping ``keep``."""

    hint = 'Send {"at": "02:00 UTC", "keep": 7}.'
    at: str
    keep: StrictInt | None = None
