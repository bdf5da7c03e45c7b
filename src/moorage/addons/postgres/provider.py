"""The ``postgresql`` add-on: a database in the shared cluster (``mini``) or in a cluster of
its own (``standard-*``, :mod:`moorage.addons.postgres.dedicated`).

Roles per add-on ``res``: ``res`` owns the database and everything in it and cannot log in
(add-ons made before rotation existed logged in as ``res`` until their first rotation);
``res_a`` and ``res_b`` are the login roles the URL names, one at a time. Both are members
of ``res`` and start every session as ``res`` (``ALTER ROLE ... SET role``), so whatever the
app creates belongs to ``res`` and survives a rotation. pg_hba admits a role only to the
database of the role it belongs to (``samerole``), and CONNECT is revoked from PUBLIC.
A dedicated cluster holds one such database; a fork or a follower keeps its source's
database and role names (they are alone in their cluster) with credentials of their own
(a follower shares its leader's: it replays them).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from moorage.addons.postgres import continuity
from moorage.addons.postgres.cluster import Cluster, new_password
from moorage.addons.postgres.dedicated import Clusters
from moorage.addons.postgres.pooler import Poolers
from moorage.errors import ComponentFailed, InvalidParams
from moorage.spec.pgplans import PgPlan, pg_plan

log = logging.getLogger("moorage.addons.postgres")

RESOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
LOGINS = ("a", "b")
# what lists other tenants' databases, roles and sessions: PostgreSQL lets these be revoked
# per database (the rest of pg_catalog describes the database's own objects)
HIDDEN_CATALOGS = (
    "pg_database", "pg_roles", "pg_user", "pg_auth_members", "pg_stat_activity",
    "pg_stat_database", "pg_shdescription", "pg_shseclabel", "pg_db_role_setting",
)  # fmt: skip


def _check(resource: str) -> None:
    if not RESOURCE_RE.fullmatch(resource):
        raise InvalidParams(f"{resource!r} is not a valid database name.")


def _user_of(resource: str, url: str) -> str:
    user = urlsplit(url).username or ""
    if user not in (resource, *(f"{resource}_{x}" for x in LOGINS)):
        raise InvalidParams(f"That URL does not belong to the add-on database {resource}.")
    return user


class PostgresProvider:
    service = "postgresql"
    attachment = "DATABASE"

    def __init__(
        self,
        cluster: Cluster,
        public_host: str,
        clusters: Clusters | None = None,
        poolers: Poolers | None = None,
    ) -> None:
        self.cluster = cluster
        self.public_host = public_host
        self.clusters = clusters
        self.poolers = poolers

    def dedicated(self, resource: str) -> bool:
        return self.clusters is not None and self.clusters.has(resource)

    def where(self, resource: str) -> tuple[Cluster, str]:
        """The cluster that holds ``resource``'s database, and the database's name."""
        _check(resource)
        if self.clusters is not None and (meta := self.clusters.meta(resource)) is not None:
            return self.clusters.cluster(resource), meta.database
        return self.cluster, resource

    def _url(self, user: str, password: str, resource: str) -> str:
        cluster, database = self.where(resource)
        return f"postgres://{user}:{password}@{self.public_host}:{cluster.port}/{database}"

    def _fail(self, what: str, exc: psycopg.Error) -> ComponentFailed:
        return ComponentFailed(f"{what}: {exc.diag.message_primary or type(exc).__name__}")

    def _login(self, conn: psycopg.Connection[tuple[object, ...]], owner: str, user: str) -> str:
        """(Re)create login role ``user`` in ``owner`` with a new password."""
        password = new_password()
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        ident, group = sql.Identifier(user), sql.Identifier(owner)
        conn.execute(
            sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(ident, sql.Literal(password))
        )
        conn.execute(sql.SQL("GRANT {} TO {}").format(group, ident))
        conn.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(ident, sql.Literal(owner)))
        return password

    def plan_name(self, plan: str) -> str:
        return pg_plan(plan).full

    def provision(self, resource: str, plan: str = "postgresql:mini") -> str:
        _check(resource)
        chosen = pg_plan(plan)
        if chosen.dedicated:
            if self.clusters is None:
                raise ComponentFailed("Dedicated PostgreSQL plans are not set up on this host.")
            if not self.clusters.has(resource):
                self.clusters.create(resource, chosen)
        cluster, database = self.where(resource)
        ident = sql.Identifier(database)
        try:
            with cluster.connect() as conn:
                if not conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (database,)
                ).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident))
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
                user = f"{database}_{LOGINS[0]}"
                password = self._login(conn, database, user)
            self._hide_catalogs(cluster, database)
        except psycopg.Error as exc:
            raise self._fail(f"Could not create database {resource}", exc) from exc
        return self._url(user, password, resource)

    def own_credentials(self, resource: str) -> str:
        """New credentials for a fork or a rollback: login ``<db>_a`` gets a new password,
        ``<db>_b`` (the source's other login) cannot log in."""
        cluster, database = self.where(resource)
        try:
            with cluster.connect() as conn:
                password = self._login(conn, database, f"{database}_{LOGINS[0]}")
                self._disable(conn, f"{database}_{LOGINS[1]}")
        except psycopg.Error as exc:
            raise self._fail(f"Could not set the credentials of {resource}", exc) from exc
        return self._url(f"{database}_{LOGINS[0]}", password, resource)

    def _hide_catalogs(self, cluster: Cluster, database: str) -> None:
        with cluster.connect(database) as conn:
            for catalog in HIDDEN_CATALOGS:
                name = sql.Identifier("pg_catalog", catalog)
                conn.execute(sql.SQL("REVOKE SELECT ON {} FROM PUBLIC").format(name))

    def harden(self, resources: list[str]) -> None:
        """Hide the shared catalogs in databases made before they were hidden (at start);
        a database that cannot be reached now is logged and left for the next start."""
        for resource in resources:
            if not RESOURCE_RE.fullmatch(resource) or self.dedicated(resource):
                continue
            try:
                self._hide_catalogs(self.cluster, resource)
            except (psycopg.Error, ComponentFailed) as exc:
                log.warning("cannot hide the catalogs of database %s: %s", resource, exc)

    def deprovision(self, resource: str) -> None:
        if not RESOURCE_RE.fullmatch(resource):
            return
        if self.poolers is not None:
            self.poolers.detach(resource)
        if self.clusters is not None and (
            self.clusters.has(resource) or self.clusters.dir(resource).exists()
        ):
            self.clusters.remove(resource)
            return
        try:
            with self.cluster.connect() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(resource)
                    )
                )
                for role in (*(f"{resource}_{x}" for x in LOGINS), resource):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        except psycopg.Error as exc:
            raise self._fail(f"Could not drop database {resource}", exc) from exc

    def _writable(self, resource: str) -> tuple[Cluster, str]:
        if self.clusters is not None and (meta := self.clusters.meta(resource)) and meta.follows:
            raise InvalidParams(
                "A follower has its leader's credentials: rotate them on the leader."
            )
        return self.where(resource)

    def rotate(self, resource: str, current_url: str) -> str:
        cluster, database = self._writable(resource)
        current = _user_of(database, current_url)
        nxt = f"{database}_{LOGINS[1] if current == f'{database}_{LOGINS[0]}' else LOGINS[0]}"
        try:
            with cluster.connect() as conn:
                password = self._login(conn, database, nxt)
        except psycopg.Error as exc:
            raise self._fail(f"Could not rotate the credentials of {resource}", exc) from exc
        self._refresh_pool(resource)
        return self._url(nxt, password, resource)

    def _disable(self, conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            return
        conn.execute(
            sql.SQL("ALTER ROLE {} WITH NOLOGIN PASSWORD NULL").format(sql.Identifier(role))
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )

    def retire(self, resource: str, keep_url: str) -> None:
        cluster, database = self._writable(resource)
        keep = _user_of(database, keep_url)
        try:
            with cluster.connect() as conn:
                for role in (database, *(f"{database}_{x}" for x in LOGINS)):
                    if role != keep:
                        self._disable(conn, role)
        except psycopg.Error as exc:
            raise self._fail(f"Could not retire old credentials of {resource}", exc) from exc
        self._refresh_pool(resource)

    def info(self, resource: str) -> dict[str, str]:
        cluster, database = self.where(resource)
        try:
            with cluster.connect() as conn:
                row = conn.execute(
                    "SELECT current_setting('server_version'), "
                    "pg_size_pretty(pg_database_size(%s)), "
                    "(SELECT count(*) FROM pg_stat_activity WHERE datname = %s), "
                    "current_setting('max_connections')",
                    (database, database),
                ).fetchone()
            with cluster.connect(database) as conn:
                tables = conn.execute(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                ).fetchone()
        except psycopg.Error as exc:
            raise self._fail(f"Could not read the facts of {resource}", exc) from exc
        assert row is not None and tables is not None
        facts = {
            "Plan": "mini" if not self.dedicated(resource) else "",
            "Status": "Available",
            "PG Version": str(row[0]),
            "Data Size": str(row[1]),
            "Tables": str(tables[0]),
            "Connections": f"{row[2]}/{row[3]}",
            "Database": database,
            "Port": str(cluster.port),
        }
        if self.clusters is not None and self.dedicated(resource):
            facts.update(continuity.facts(self.clusters, resource))
        return facts

    def ensure_running(self, resources: list[str]) -> None:
        """Start the shared cluster and the dedicated ones of ``resources`` that do not
        answer (after a crash or a reboot)."""
        self.cluster.ensure_running()
        mine = [r for r in resources if RESOURCE_RE.fullmatch(r)]
        if self.clusters is not None:
            self.clusters.ensure_running(mine)
        if self.poolers is not None:
            self.poolers.ensure_running([r for r in mine if self.poolers.port(r) is not None])

    # -- dedicated clusters: from the archive, followers, promotion ----------------------------
    def _clusters(self) -> Clusters:
        if self.clusters is None:
            raise ComponentFailed("Dedicated PostgreSQL plans are not set up on this host.")
        return self.clusters

    def _source(self, source: str, verb: str) -> Clusters:
        clusters = self._clusters()
        meta = clusters.meta(source)
        if meta is None:
            raise InvalidParams(
                f"--{verb} needs a database with a cluster of its own (a standard-* plan); "
                "a mini database has no WAL archive and no replication. Move its data to a "
                "standard plan with pg:backups:restore first."
            )
        if meta.follows and verb != "follow":
            raise InvalidParams(f"--{verb} of a follower: use its leader instead.")
        return clusters

    def restore_from(self, resource: str, plan: str, source: str, to: datetime | None) -> str:
        """A new add-on ``resource`` with ``source``'s data at ``to`` (a rollback) or now (a
        fork), with credentials of its own. ``source`` keeps serving, unchanged."""
        clusters = self._source(source, "fork" if to is None else "rollback")
        chosen = _dedicated_plan(plan)
        point = continuity.target(clusters, source, to)
        clusters.restore(resource, chosen, source, point)
        return self.own_credentials(resource)

    def follow(self, resource: str, plan: str, leader: str, leader_url: str) -> str:
        """A read-only streaming replica of ``leader``; its URL has the leader's credentials."""
        clusters = self._source(leader, "follow")
        clusters.follow(resource, _dedicated_plan(plan), leader)
        parts = urlsplit(leader_url)
        return self._url(parts.username or "", parts.password or "", resource)

    def lag(self, resource: str) -> tuple[int, float]:
        return continuity.lag(self._clusters(), resource)

    def following(self, resource: str) -> str | None:
        meta = self.clusters.meta(resource) if self.clusters is not None else None
        return meta.follows if meta is not None else None

    def promote(self, resource: str) -> None:
        """Stop following (idempotent): the cluster takes writes and archives on its own."""
        self._clusters().promote(resource)

    def base_backup(self, resource: str) -> None:
        self._clusters().base_backup(resource)

    def due_backups(self) -> list[str]:
        """Dedicated clusters (a fork, a rollback, a promoted follower) whose first base
        backup is still to be taken: their rollback window starts with it."""
        return self.clusters.due_backups() if self.clusters is not None else []

    def archive_state(self, resource: str) -> tuple[bool, str]:
        """(healthy, words) of the WAL archive of a dedicated cluster."""
        try:
            return continuity.archive_state(self._clusters(), resource)
        except psycopg.Error as exc:
            raise self._fail(f"Could not read the archive state of {resource}", exc) from exc

    # -- connection pooling --------------------------------------------------------------------
    def _logins(self, resource: str) -> tuple[Cluster, str, list[str]]:
        cluster, database = self.where(resource)
        return cluster, database, [f"{database}_{x}" for x in LOGINS]

    def pool(self, resource: str) -> int:
        """PgBouncer (transaction mode) in front of ``resource``'s database; its port.
        The same credentials work through it (it checks them against the cluster's)."""
        if self.poolers is None:
            raise ComponentFailed("Connection pooling is not set up on this host.")
        if self.following(resource):
            raise InvalidParams(
                "A follower cannot have a pool of its own yet: attach one to its leader."
            )
        cluster, database, logins = self._logins(resource)
        return self.poolers.attach(resource, cluster, database, logins)

    def unpool(self, resource: str) -> None:
        if self.poolers is not None:
            self.poolers.detach(resource)

    def _refresh_pool(self, resource: str) -> None:
        if self.poolers is None or self.poolers.port(resource) is None:
            return
        cluster, _, logins = self._logins(resource)
        stale = self.poolers.refresh_users(resource, cluster, logins)
        if stale:
            log.info("pooler of %s: clients of %s end at their next query", resource, stale)

    def sweep(self, known: set[str]) -> list[str]:
        """Remove clusters whose creation a killed server left unfinished."""
        return self.clusters.sweep(known) if self.clusters is not None else []


def _dedicated_plan(plan: str) -> PgPlan:
    chosen = pg_plan(plan)
    if not chosen.dedicated:
        raise InvalidParams(
            f"Plan {chosen.name} is a database in the shared cluster: forks, rollbacks and "
            "followers need a cluster of their own. Use postgresql:standard-0 or larger."
        )
    return chosen
