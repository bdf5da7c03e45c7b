"""The add-on keeper: backups, their schedule, credential retirement, add-on servers.

One daemon thread (:meth:`AddonKeeper.loop`) ticks every second:

* it retires old credentials once every app an add-on is attached to runs a live release
  with the new URL and no dyno of an older release is left (``pg:credentials:rotate``);
* it fires due backup schedules, and a schedule that cannot run leaves a ``failed``
  backup entry and a platform log line, never silence;
* it starts add-on servers that are not running (a Redis instance killed, a reboot).

Captures run one at a time in a worker thread: pg_dump in a consistent snapshot, then the
dump is restored into a scratch database and compared table by table (``verified``), then
the retention removes the oldest. The clock can be injected for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.addons.base import Provider
from moorage.addons.postgres import backups as engine
from moorage.addons.postgres.provider import PostgresProvider
from moorage.errors import MoorageError
from moorage.server.background.reconciler import Emit, Reconciler
from moorage.server.background.scheduler import Clock, utcnow
from moorage.server.services import addons as addon_service
from moorage.server.services import backups as service
from moorage.server.services import releases as release_service
from moorage.server.store.db import Store
from moorage.server.store.models import Addon, App, Backup
from moorage.spec.bytesizes import human_size
from moorage.spec.status import AddonService, BackupStatus, ReleaseStatus, Verification

log = logging.getLogger("moorage.addons")
BACKUP_RETRY = 300.0  # seconds before a failed first base backup is tried again


class AddonKeeper:
    def __init__(
        self,
        store: Store,
        providers: dict[str, Provider],
        reconciler: Reconciler,
        emit: Emit,
        root: Path,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.providers = providers
        self.reconciler = reconciler
        self.emit = emit
        self.root = root
        self.clock = clock
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")
        self._archive_ok: dict[str, bool] = {}  # resource -> its archive worked at last look
        self._backups_queued: dict[str, float] = {}  # resource -> when its first backup queued
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- backups ------------------------------------------------------------------------------
    @property
    def postgres(self) -> PostgresProvider:
        provider = self.providers[AddonService.POSTGRESQL]
        assert isinstance(provider, PostgresProvider)
        return provider

    def capture(self, addon_id: str, trigger: str = "manual") -> tuple[str, Future[None]]:
        """Start a capture of ``addon_id``; returns its label (``b004``) and its future."""
        with self.store.session() as s:
            addon = s.get_one(Addon, addon_id)
            backup = service.start(s, addon, trigger)
            label, backup_id = backup.label, backup.id
        return label, self._worker.submit(self._run, backup_id)

    def _run(self, backup_id: str) -> None:
        with self.store.session() as s:
            backup = s.get_one(Backup, backup_id)
            addon, path = backup.addon, service.path_for(self.root, backup)
            app, name, resource, label = addon.app.name, addon.name, addon.resource, backup.label
        started = time.monotonic()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            cluster, database = self.postgres.where(resource)
            result = engine.capture(cluster, database, path)
        except Exception as exc:
            reason = exc.message if isinstance(exc, MoorageError) else f"internal error: {exc}"
            if not isinstance(exc, MoorageError):
                log.exception("capture of %s failed", name)
            self._finish(backup_id, BackupStatus.FAILED, reason, time.monotonic() - started)
            self.emit(app, "api", f"Backup {label} of {name} failed: {reason}")
            return
        tables = {k: {"rows": v.rows, "checksum": v.checksum} for k, v in result.tables.items()}
        self._finish(backup_id, BackupStatus.COMPLETED, "", result.seconds, result.size, tables)
        self.emit(
            app,
            "api",
            f"Backup {label} of {name} completed: {human_size(result.size)} "
            f"in {result.seconds:.1f}s",
        )
        self._verify(backup_id, path, result.tables, app, f"{label} of {name}")
        self._prune(backup_id)

    def _verify(
        self, backup_id: str, path: Path, tables: dict[str, engine.TableSum], app: str, what: str
    ) -> None:
        try:
            check = engine.verify(self.postgres.cluster, path, tables)
            verdict, detail = (
                (Verification.VERIFIED if check.ok else Verification.MISMATCH),
                check.detail,
            )
        except Exception as exc:
            log.exception("verification of %s failed", what)
            verdict, detail = Verification.ERROR, str(exc)
        with self.store.session() as s:
            backup = s.get_one(Backup, backup_id)
            backup.verified, backup.detail = verdict, detail
        self.emit(app, "api", f"Backup {what} {verdict} by a test restore: {detail}")

    def _finish(
        self,
        backup_id: str,
        status: BackupStatus,
        detail: str,
        seconds: float,
        size: int = 0,
        tables: dict[str, Any] | None = None,
    ) -> None:
        with self.store.session() as s:
            backup = s.get_one(Backup, backup_id)
            backup.status, backup.detail, backup.seconds, backup.size = (
                status,
                detail,
                seconds,
                size,
            )
            backup.tables = dict(tables or {})
            backup.finished_at = self.clock()
            if status == BackupStatus.FAILED:
                backup.verified = "error"

    def _prune(self, backup_id: str) -> None:
        with self.store.session() as s:
            addon = s.get_one(Backup, backup_id).addon
            for old in service.expired(addon):
                service.path_for(self.root, old).unlink(missing_ok=True)
                addon.backups.remove(old)
                s.delete(old)

    def delete_files(self, backup: Backup) -> None:
        service.path_for(self.root, backup).unlink(missing_ok=True)

    # -- the loop -----------------------------------------------------------------------------
    def tick_schedules(self) -> list[str]:
        """Start every due scheduled capture; returns the labels started."""
        now = self.clock()
        due = []
        with self.store.session() as s:
            for addon in s.scalars(select(Addon).where(Addon.service == AddonService.POSTGRESQL)):
                sched = addon.backup_schedule
                if not sched:
                    continue
                last = datetime.fromisoformat(str(sched.get("last_run") or sched["since"]))
                if service.next_due(sched, last) <= now:
                    addon.backup_schedule = {**sched, "last_run": now.isoformat()}
                    due.append((addon.id, addon.name, addon.app.name))
        started = []
        for addon_id, name, app in due:
            try:
                label, _ = self.capture(addon_id, "scheduled")
                started.append(label)
                self._worker.submit(self._base_backup, addon_id)
            except MoorageError as exc:
                self._record_missed(addon_id, exc.message)
                self.emit(app, "api", f"Scheduled backup of {name} did not run: {exc.message}")
        return started

    def _record_missed(self, addon_id: str, reason: str) -> None:
        with self.store.session() as s:
            addon = s.get_one(Addon, addon_id)
            addon.backup_seq += 1
            addon.backups.append(
                Backup(
                    addon_id=addon.id,
                    num=addon.backup_seq,
                    trigger="scheduled",
                    status=BackupStatus.FAILED,
                    verified="error",
                    detail=reason,
                    finished_at=self.clock(),
                )
            )

    def _base_backup(self, addon_id: str) -> None:
        """A full pgBackRest backup of a dedicated cluster (its rollback window moves on)."""
        with self.store.session() as s:
            addon = s.get_one(Addon, addon_id)
            resource, name, app = addon.resource, addon.name, addon.app.name
        if not self.postgres.dedicated(resource) or self.postgres.following(resource):
            return
        try:
            self.postgres.base_backup(resource)
        except MoorageError as exc:
            self.emit(app, "api", f"ALERT: base backup of {name} failed: {exc.message}")
            return
        self.emit(app, "api", f"Base backup of {name} completed (rollback window kept)")

    def tick_base_backups(self) -> list[str]:
        """Queue the first base backup of clusters that were made from an archive or
        promoted (they serve before it is taken); returns the add-ons queued."""
        now = time.monotonic()
        waiting = {r for r, at in self._backups_queued.items() if now - at < BACKUP_RETRY}
        due = set(self.postgres.due_backups()) - waiting
        if not due:
            return []
        with self.store.session() as s:
            found = s.scalars(select(Addon).where(Addon.resource.in_(due))).all()
            queued = [(a.id, a.resource, a.name) for a in found]
        for addon_id, resource, _ in queued:
            self._backups_queued[resource] = now  # a failed one is tried again later
            self._worker.submit(self._first_backup, addon_id, resource)
        return [name for _, _, name in queued]

    def _first_backup(self, addon_id: str, resource: str) -> None:
        self._base_backup(addon_id)
        if resource not in self.postgres.due_backups():
            self._backups_queued.pop(resource, None)

    def tick_archives(self) -> list[str]:
        """An ``ALERT`` line in the app's log when a dedicated cluster's WAL archive starts
        failing, and a line when it works again; returns the add-ons failing now."""
        with self.store.session() as s:
            dedicated = [
                (a.resource, a.name, a.app.name)
                for a in s.scalars(select(Addon).where(Addon.service == AddonService.POSTGRESQL))
                if self.postgres.dedicated(a.resource) and not a.follows_id
            ]
        failing = []
        for resource, name, app in dedicated:
            try:
                healthy, words = self.postgres.archive_state(resource)
            except MoorageError:
                continue  # the cluster is down: tick_servers starts it
            was = self._archive_ok.get(resource, True)
            self._archive_ok[resource] = healthy
            if not healthy:
                failing.append(name)
            if was and not healthy:
                self.emit(app, "api", f"ALERT: WAL archive of {name} is {words}")
            elif healthy and not was:
                self.emit(app, "api", f"WAL archive of {name} works again: {words}")
        return failing

    def tick_rotations(self) -> list[tuple[str, str]]:
        with self.store.session() as s:
            done = addon_service.finish_rotations(s, self.providers, self._settled(s))
        for addon, app in done:
            self.emit(app, "api", f"Old credentials of {addon} retired: no dyno uses them")
        return done

    def _settled(self, s: Session) -> Callable[[App], bool]:
        def settled(app: App) -> bool:
            current = release_service.current(s, app)
            if current is None:
                return True
            return current.status == ReleaseStatus.SUCCEEDED and self.reconciler.settled(
                app.name, current.version
            )

        return settled

    def tick_servers(self) -> None:
        with self.store.session() as s:
            by_service: dict[str, list[str]] = {}
            for addon in s.scalars(select(Addon)):
                by_service.setdefault(addon.service, []).append(addon.resource)
        for name, resources in by_service.items():
            if name in self.providers:
                self.providers[name].ensure_running(resources)

    def loop(self, stop: threading.Event) -> None:
        """Rotations every 2 s, schedules every 5 s, add-on servers every 5 s."""
        n = 0
        while not stop.wait(1.0):
            n += 1
            for every, tick in (
                (2, self.tick_rotations),
                (5, self.tick_schedules),
                (5, self.tick_servers),
                (10, self.tick_archives),
                (5, self.tick_base_backups),
            ):
                if n % every:
                    continue
                try:
                    tick()
                except Exception:
                    log.exception("add-on keeper: %s failed", getattr(tick, "__name__", "tick"))


def restore_into(keeper: AddonKeeper, addon_id: str, dump: Path, what: str) -> None:
    """Restore ``dump`` into the add-on's database on the backup worker (after any capture
    under way); the database is unchanged unless the whole restore succeeds."""
    with keeper.store.session() as s:
        addon = s.get_one(Addon, addon_id)
        service.require_postgres(addon)
        app, name, resource = addon.app.name, addon.name, addon.resource
    keeper.emit(app, "api", f"Restoring {what} into {name}")  # restore() checks the archive
    cluster, database = keeper.postgres.where(resource)
    future = keeper._worker.submit(engine.restore, cluster, database, database, dump)
    try:
        future.result()
    except MoorageError as exc:
        keeper.emit(app, "api", f"Restore of {what} into {name} failed: {exc.message}")
        raise
    keeper.emit(app, "api", f"Restored {what} into {name}")
