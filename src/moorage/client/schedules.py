"""Scheduled jobs: list, add, remove."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.schedules import Schedule, ScheduleCreate

_SCHEDULES = Shape(list[Schedule])


def schedules(c: Client, app: str) -> list[Schedule]:
    return _SCHEDULES.validate_python(c.request("GET", path("/apps/{}/schedules", app)))


def schedule_add(
    c: Client,
    app: str,
    schedule: str,
    command: str,
    *,
    size: str | None = None,
    concurrency: str | None = None,
) -> Schedule:
    """Run ``command`` as a one-off dyno on ``schedule`` (cron); the server's defaults for
    what is not given."""
    body = ScheduleCreate(schedule=schedule, command=command, size=size, concurrency=concurrency)
    answer = c.request("POST", path("/apps/{}/schedules", app), body.model_dump(exclude_none=True))
    return Schedule.model_validate(answer)


def schedule_remove(c: Client, app: str, ident: str) -> Schedule:
    """Remove the schedule with id ``ident`` (or its first 6 characters or more)."""
    answer = c.request("DELETE", path("/apps/{}/schedules/{}", app, ident))
    return Schedule.model_validate(answer)
