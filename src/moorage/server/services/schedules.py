"""Schedules: cron expressions whose runs are one-off dynos ``scheduler.N``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.schemas import schedules as schema
from moorage.schemas.base import Ref
from moorage.server.background.scheduler import next_after, utcnow
from moorage.server.store.models import App, Schedule
from moorage.spec.dyno import SIZES

POLICIES = ("forbid", "allow")
MAX_SCHEDULES = 50


def view(sched: Schedule) -> schema.Schedule:
    """The schedule as the API shows it, with its next run (UTC)."""
    return schema.Schedule(
        id=sched.id,
        app=Ref.of(sched.app),
        schedule=sched.cron,
        command=sched.command,
        size=sched.size,
        concurrency=sched.concurrency,
        last_run_at=sched.last_run_at,
        last_status=sched.last_status or None,
        next_run_at=next_after(sched.cron, sched.last_run_at or utcnow()),
        created_at=sched.created_at,
    )


def validate_cron(expr: str) -> str:
    """Five fields (minute hour day month weekday), or six with seconds last (an extension)."""
    from croniter import croniter

    text = " ".join(expr.split())
    if len(text.split()) not in (5, 6) or not croniter.is_valid(text):
        raise InvalidParams(
            f"{expr!r} is not a cron schedule. Use five fields, minute hour day month weekday, "
            "e.g. '*/5 * * * *' (every 5 minutes) or '30 2 * * *' (02:30 UTC daily)."
        )
    return text


def add(
    session: Session, app: App, cron: str, command: str, size: str, concurrency: str
) -> Schedule:
    if not command.strip():
        raise InvalidParams("Give the command to run: `moor schedules:add CRON -a APP -- CMD`.")
    if size not in SIZES:
        raise InvalidParams(f"Unknown dyno size {size!r}; choose one of {', '.join(SIZES)}.")
    if concurrency not in POLICIES:
        raise InvalidParams(f"Concurrency policy must be one of {', '.join(POLICIES)}.")
    if len(list_for(session, app)) >= MAX_SCHEDULES:
        raise InvalidParams(f"{app.name} has {MAX_SCHEDULES} schedules; remove some first.")
    sched = Schedule(
        app_id=app.id,
        cron=validate_cron(cron),
        command=command,
        size=size,
        concurrency=concurrency,
        last_status="",
    )
    session.add(sched)
    session.flush()
    session.refresh(sched)
    return sched


def list_for(session: Session, app: App) -> list[Schedule]:
    stmt = select(Schedule).where(Schedule.app_id == app.id).order_by(Schedule.created_at)
    return list(session.scalars(stmt))


def remove(session: Session, app: App, ident: str) -> Schedule:
    for sched in list_for(session, app):
        if sched.id == ident or (sched.id.startswith(ident) and len(ident) >= 6):
            session.delete(sched)
            return sched
    raise NotFound(f"{app.name} has no schedule {ident}. See `moor schedules -a {app.name}`.")
