"""Scheduled jobs (``/apps/{app}/schedules``): a Moorage extension in the API's style."""

from __future__ import annotations

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class Schedule(Resource):
    """A cron ``schedule`` (UTC) whose runs are one-off dynos ``scheduler.N``."""

    id: str
    app: Ref
    schedule: str
    command: str
    size: str
    concurrency: str
    last_run_at: Timestamp
    last_status: str | None
    next_run_at: Timestamp
    created_at: Timestamp


class ScheduleCreate(Body):
    """``schedules:add``; ``size`` defaults to basic, ``concurrency`` to forbid."""

    hint = 'Send {"schedule": "*/5 * * * *", "command": "..."}.'
    schedule: str
    command: str
    size: str | None = None
    concurrency: str | None = None
