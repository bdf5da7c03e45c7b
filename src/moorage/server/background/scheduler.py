"""The scheduler: fires due schedules as one-off dynos, with a concurrency policy.

Each second it looks for schedules whose next time (after the last run, or creation) has
come. A run starts ``scheduler.N`` from the current release; its output and exit status
reach the app's log like any dyno's. With the ``forbid`` policy a run whose previous one is
still going is skipped, and the skip is logged. A run that cannot start is logged as failed
and recorded on the schedule (``moor schedules`` shows it): never silence.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import MoorageError
from moorage.server.background.reconciler import Emit, Reconciler
from moorage.server.services import dynos as dyno_service
from moorage.server.sessions.dynos import DynoSessions
from moorage.server.store.db import Store
from moorage.server.store.models import Schedule
from moorage.spec.status import DynoState

log = logging.getLogger("moorage.scheduler")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def next_after(cron: str, after: datetime) -> datetime:
    from croniter import croniter

    due: datetime = croniter(cron, after).get_next(datetime)
    return due


class Scheduler:
    """Runs start through ``sessions``; ``reconciler`` tells which are still running."""

    def __init__(
        self,
        store: Store,
        reconciler: Reconciler,
        sessions: DynoSessions,
        emit: Emit,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.reconciler = reconciler
        self.sessions = sessions
        self.emit = emit
        self.clock = clock
        self._running: dict[str, str] = {}  # schedule id -> dyno id of its last run

    def tick(self) -> int:
        """Start every due run; returns how many started."""
        now = self.clock()
        started = 0
        with self.store.session() as s:
            for sched in s.scalars(select(Schedule)):
                due = next_after(sched.cron, sched.last_run_at or sched.created_at)
                if due > now:
                    continue
                sched.last_run_at = now
                started += self._fire(s, sched)
        return started

    def _still_running(self, sched: Schedule) -> str | None:
        dyno_id = self._running.get(sched.id)
        if dyno_id is None:
            return None
        for d in self.reconciler.dynos(sched.app.name):
            if d.id == dyno_id and d.state in (DynoState.UP, DynoState.STARTING):
                return d.label
        return None

    def _fire(self, session: Session, sched: Schedule) -> int:
        app = sched.app.name
        busy = self._still_running(sched)
        if busy is not None and sched.concurrency == "forbid":
            sched.last_status = f"skipped: {busy} still running"
            self.emit(
                app,
                "scheduler",
                f"Skipped `{sched.command}` ({sched.cron}): previous run "
                f"{busy} is still running (concurrency policy forbid)",
            )
            return 0
        try:
            spec = dyno_service.oneoff_spec(
                session,
                sched.app,
                sched.command,
                ptype="scheduler",
                size=sched.size,
            )
            dyno = self.sessions.start_oneoff(spec)
        except MoorageError as exc:
            sched.last_status = f"failed: {exc.message}"
            self.emit(
                app, "scheduler", f"Failed to run `{sched.command}` ({sched.cron}): {exc.message}"
            )
            log.warning("schedule %s of %s failed: %s", sched.id, app, exc.message)
            return 0
        self._running[sched.id] = dyno.id
        sched.last_status = f"started {spec.label}"
        self.emit(
            app,
            "scheduler",
            f"Running `{sched.command}` ({sched.cron}) as {spec.label}",
        )
        return 1

    def loop(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")
