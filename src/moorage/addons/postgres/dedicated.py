"""Dedicated PostgreSQL clusters: one per add-on of a ``standard-*`` plan.

Each lives in ``<root>/<resource>/`` (``data/``, ``run/``, ``postgres.log``, its pgBackRest
config) with a ``moorage.json`` that says what the platform needs to run it again with no
other state: its port, plan, the database inside and, for a follower, whom it follows.
A directory with a ``creating`` file is one whose creation did not finish (the server was
killed): :meth:`Clusters.sweep` removes it unless the store names it.

Every cluster archives its WAL into its own pgBackRest stanza (its resource's name); a
follower streams from its leader's socket and archives only once promoted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from moorage.addons.ports import allocate
from moorage.addons.postgres.archive import Archive
from moorage.addons.postgres.cluster import Cluster, find_bin_dir
from moorage.addons.rootdir import locked
from moorage.errors import ComponentFailed, InvalidParams
from moorage.spec.pgplans import PLANS, PgPlan


@dataclass(frozen=True)
class Meta:
    port: int
    plan: str
    database: str
    follows: str | None = None


class Clusters:
    """The dedicated clusters under ``root``, listening on ``listen`` at ports of ``ports``."""

    def __init__(
        self,
        root: Path,
        listen: list[str],
        ports: range,
        archive: Archive,
        dyno_networks: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.listen = listen
        self.ports = ports
        self.archive = archive
        self.dyno_networks = list(dyno_networks)

    # -- records -------------------------------------------------------------------------------
    def dir(self, resource: str) -> Path:
        return self.root / resource

    def meta(self, resource: str) -> Meta | None:
        try:
            return Meta(**json.loads((self.dir(resource) / "moorage.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def has(self, resource: str) -> bool:
        return self.meta(resource) is not None

    def _write_meta(self, resource: str, meta: Meta) -> None:
        path = self.dir(resource) / "moorage.json"
        staged = path.with_suffix(".new")
        staged.write_text(json.dumps(asdict(meta)))
        os.replace(staged, path)

    def conf(self, resource: str) -> Path:
        return self.dir(resource) / "pgbackrest.conf"

    def plan(self, resource: str) -> PgPlan:
        return PLANS[self._meta(resource).plan]

    def _meta(self, resource: str) -> Meta:
        meta = self.meta(resource)
        if meta is None:
            raise ComponentFailed(f"The cluster of database add-on {resource} is missing.")
        return meta

    def cluster(self, resource: str) -> Cluster:
        """The cluster of ``resource`` with its plan's and its archive's settings."""
        meta = self._meta(resource)
        plan = PLANS[meta.plan]
        conf = self.conf(resource)
        settings = {
            **plan.settings(),
            "archive_mode": "on",
            "archive_command": Archive.archive_command(conf, resource),
            "archive_timeout": "60",
            "wal_level": "replica",
            "max_wal_senders": "10",
            "wal_keep_size": "256MB",
            "hot_standby": "on",
        }
        if meta.follows:  # WAL the leader no longer keeps comes from its archive
            settings["restore_command"] = Archive.restore_command(
                self.conf(meta.follows), meta.follows
            )
        cluster = Cluster(self.dir(resource), meta.port, self.listen, self.dyno_networks, settings)
        cluster.start_timeout = 3600
        return cluster

    def _lock(self) -> AbstractContextManager[None]:
        return locked(self.root, "PostgreSQL clusters")

    def _reserve(self, resource: str, plan: PgPlan, database: str, follows: str | None) -> Meta:
        """The directory (marked ``creating``) and a port of ``resource``'s new cluster."""
        if not plan.dedicated:
            raise InvalidParams(f"Plan {plan.name} has no cluster of its own.")
        with self._lock():
            if self.meta(resource) is not None:
                raise ComponentFailed(f"A cluster for {resource} exists already.")
            taken = [m.port for d in self.root.iterdir() if (m := self.meta(d.name))]
            port = allocate(self.ports, taken, self.listen, "a PostgreSQL cluster")
            self.dir(resource).mkdir(mode=0o700)
            (self.dir(resource) / "creating").touch()
            meta = Meta(port=port, plan=plan.name, database=database, follows=follows)
            self._write_meta(resource, meta)
        return meta

    def _done(self, resource: str) -> None:
        (self.dir(resource) / "creating").unlink(missing_ok=True)

    def creating(self, resource: str) -> bool:
        return (self.dir(resource) / "creating").exists()

    # -- lifecycle -----------------------------------------------------------------------------
    def create(self, resource: str, plan: PgPlan) -> Cluster:
        """A new empty cluster, started, archiving, with its first base backup."""
        self._reserve(resource, plan, resource, None)
        try:
            cluster = self.cluster(resource)
            cluster.refresh()
            self._start_archive(resource)
        except Exception:
            self.remove(resource)
            raise
        self._done(resource)
        return cluster

    def _start_archive(self, resource: str, *, backup_now: bool = True) -> None:
        """Its stanza and first full backup (after a checkpoint: a promotion's new timeline
        reaches pg_control only then). Recovery settings a restore or a base backup left in
        postgresql.auto.conf go first: a follower made of this cluster must not inherit a
        recovery target or another cluster's primary_conninfo.

        Without ``backup_now`` (a fork, a rollback, a promotion: the data is there already
        and the caller waits) the backup is only marked as due: :meth:`due_backups` names it
        for the keeper, and the mark survives a restart."""
        meta = self._meta(resource)
        with self.cluster(resource).connect() as conn:
            conn.execute("ALTER SYSTEM RESET ALL")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CHECKPOINT")
        conf = self.archive.write_config(
            resource, self.dir(resource), meta.port, PLANS[meta.plan].window_days
        )
        self.archive.stanza_create(conf, resource)
        if backup_now:
            self.archive.backup(conf, resource)
        else:
            (self.dir(resource) / "backup-due").touch()

    def base_backup(self, resource: str) -> None:
        """A full base backup now; it clears a due mark."""
        self.archive.backup(self.conf(resource), resource)
        (self.dir(resource) / "backup-due").unlink(missing_ok=True)

    def due_backups(self) -> list[str]:
        """Clusters whose first base backup is still to be taken."""
        if not self.root.exists():
            return []
        return sorted(
            d.name
            for d in self.root.iterdir()
            if (d / "backup-due").exists() and not (d / "creating").exists()
        )

    def restore(self, resource: str, plan: PgPlan, source: str, target: tuple[str, str]) -> Cluster:
        """A new cluster from ``source``'s archive at ``target``, promoted, archiving into
        its own stanza. ``source`` is only read."""
        src = self._meta(source)
        self._reserve(resource, plan, src.database, None)
        try:
            cluster = self.cluster(resource)
            cluster.init_dirs()
            self.archive.restore(self.conf(source), source, cluster.data, target)
            self.archive.write_config(resource, self.dir(resource), cluster.port, plan.window_days)
            cluster.refresh()
            _wait_promoted(cluster)
            self._start_archive(resource, backup_now=False)
        except Exception:
            self.remove(resource)
            raise
        self._done(resource)
        return cluster

    def follow(self, resource: str, plan: PgPlan, leader: str) -> Cluster:
        """A streaming replica of ``leader`` (a base backup over its socket, then streaming)."""
        lead = self._meta(leader)
        if lead.follows:
            raise InvalidParams("A follower cannot be followed: follow its leader instead.")
        self._reserve(resource, plan, lead.database, leader)
        try:
            cluster = self.cluster(resource)
            cluster.init_dirs()
            source = self.cluster(leader)
            _as_postgres(
                [
                    str(find_bin_dir() / "pg_basebackup"),
                    f"--pgdata={cluster.data}",
                    f"--host={source.sockets}",
                    f"--port={source.port}",
                    "--username=postgres",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                    "--write-recovery-conf",
                    "--no-password",
                ],
                "base backup for a follower",
            )
            self.archive.write_config(resource, self.dir(resource), cluster.port, plan.window_days)
            cluster.refresh()
        except Exception:
            self.remove(resource)
            raise
        self._done(resource)
        return cluster

    def promote(self, resource: str) -> Cluster:
        """Stop following: the cluster takes writes and archives into its own stanza."""
        meta = self._meta(resource)
        cluster = self.cluster(resource)
        with cluster.connect() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and row[0]:
                conn.execute("SELECT pg_promote(true, 300)")
        self._write_meta(resource, replace(meta, follows=None))
        (cluster.data / "standby.signal").unlink(missing_ok=True)
        cluster = self.cluster(resource)
        cluster.refresh()  # its settings without the leader's restore_command
        self._start_archive(resource, backup_now=False)
        return cluster

    def remove(self, resource: str) -> None:
        """Stop the cluster, delete its stanza and its directory (nothing if missing)."""
        meta = self.meta(resource)
        path = self.dir(resource)
        if meta is None:
            shutil.rmtree(path, ignore_errors=True)
            return
        cluster = self.cluster(resource)
        if (cluster.data / "postmaster.pid").exists():
            try:
                cluster.stop()
            except ComponentFailed:
                pass
        if self.conf(resource).exists():
            try:
                self.archive.stanza_delete(self.conf(resource), resource)
            except ComponentFailed:
                pass  # never archived: nothing to delete
        shutil.rmtree(path, ignore_errors=True)

    def ensure_running(self, resources: list[str]) -> list[str]:
        """Start the clusters of ``resources`` that do not answer (after a crash or a
        reboot); returns the ones started. Every one is tried; one error names the failures."""
        started, failures = [], []
        for resource in resources:
            if not self.has(resource) or self.creating(resource):
                continue
            try:
                if self.cluster(resource).ensure_running():
                    started.append(resource)
            except ComponentFailed as exc:
                failures.append(exc.message)
        if failures:
            raise ComponentFailed(" ".join(failures))
        return started

    def sweep(self, known: set[str]) -> list[str]:
        """Remove clusters whose creation never finished and that no add-on names: first the
        processes still working on them (a restore a killed server left running)."""
        if not self.root.exists():
            return []
        gone = []
        for d in self.root.iterdir():
            unfinished = (d / "creating").exists() or not (d / "moorage.json").exists()
            if d.is_dir() and d.name not in known and unfinished:
                _kill_working_on(d)
                self.remove(d.name)
                gone.append(d.name)
        return gone


def _kill_working_on(path: Path) -> None:
    """SIGKILL every process whose command line names ``path`` (pgbackrest, postgres)."""
    needle = str(path).encode() + b"/"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "cmdline").read_bytes().replace(b"\0", b" ") + b"/":
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _as_postgres(argv: list[str], what: str) -> None:
    proc = subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ComponentFailed(f"PostgreSQL {what} failed: {proc.stderr.strip()[-400:]}")


def _wait_promoted(cluster: Cluster) -> None:
    """Until recovery reached its target and the cluster takes writes."""
    for _ in range(3600):
        with cluster.connect() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and not row[0]:
            return
        time.sleep(0.5)
    raise ComponentFailed("The restored cluster did not finish its recovery in 30 minutes.")
