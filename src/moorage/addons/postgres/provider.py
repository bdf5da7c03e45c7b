"""The ``postgresql`` add-on: one database per add-on on the managed cluster.

Roles per add-on ``res``: ``res`` owns the database and everything in it and cannot log in
(add-ons made before rotation existed logged in as ``res`` until their first rotation);
``res_a`` and ``res_b`` are the login roles the URL names, one at a time. Both are members
of ``res`` and start every session as ``res`` (``ALTER ROLE ... SET role``), so whatever the
app creates belongs to ``res`` and survives a rotation. pg_hba admits a role only to the
database of the role it belongs to (``samerole``), and CONNECT is revoked from PUBLIC.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from moorage.addons.postgres.cluster import Cluster, new_password
from moorage.errors import ComponentFailed, InvalidParams

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

    def __init__(self, cluster: Cluster, public_host: str) -> None:
        self.cluster = cluster
        self.public_host = public_host

    def _url(self, user: str, password: str, database: str) -> str:
        return f"postgres://{user}:{password}@{self.public_host}:{self.cluster.port}/{database}"

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

    def provision(self, resource: str) -> str:
        _check(resource)
        ident = sql.Identifier(resource)
        try:
            with self.cluster.connect() as conn:
                if not conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (resource,)
                ).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident))
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (resource,)
                ).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
                user = f"{resource}_{LOGINS[0]}"
                password = self._login(conn, resource, user)
            self._hide_catalogs(resource)
        except psycopg.Error as exc:
            raise self._fail(f"Could not create database {resource}", exc) from exc
        return self._url(user, password, resource)

    def _hide_catalogs(self, resource: str) -> None:
        with self.cluster.connect(resource) as conn:
            for catalog in HIDDEN_CATALOGS:
                name = sql.Identifier("pg_catalog", catalog)
                conn.execute(sql.SQL("REVOKE SELECT ON {} FROM PUBLIC").format(name))

    def harden(self, resources: list[str]) -> None:
        """Hide the shared catalogs in databases made before they were hidden (at start);
        a database that cannot be reached now is logged and left for the next start."""
        for resource in resources:
            if not RESOURCE_RE.fullmatch(resource):
                continue
            try:
                self._hide_catalogs(resource)
            except (psycopg.Error, ComponentFailed) as exc:
                log.warning("cannot hide the catalogs of database %s: %s", resource, exc)

    def deprovision(self, resource: str) -> None:
        if not RESOURCE_RE.fullmatch(resource):
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

    def rotate(self, resource: str, current_url: str) -> str:
        _check(resource)
        current = _user_of(resource, current_url)
        nxt = f"{resource}_{LOGINS[1] if current == f'{resource}_{LOGINS[0]}' else LOGINS[0]}"
        try:
            with self.cluster.connect() as conn:
                password = self._login(conn, resource, nxt)
        except psycopg.Error as exc:
            raise self._fail(f"Could not rotate the credentials of {resource}", exc) from exc
        return self._url(nxt, password, resource)

    def retire(self, resource: str, keep_url: str) -> None:
        _check(resource)
        keep = _user_of(resource, keep_url)
        try:
            with self.cluster.connect() as conn:
                for role in (resource, *(f"{resource}_{x}" for x in LOGINS)):
                    if (
                        role == keep
                        or not conn.execute(
                            "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                        ).fetchone()
                    ):
                        continue
                    conn.execute(
                        sql.SQL("ALTER ROLE {} WITH NOLOGIN PASSWORD NULL").format(
                            sql.Identifier(role)
                        )
                    )
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                        (role,),
                    )
        except psycopg.Error as exc:
            raise self._fail(f"Could not retire old credentials of {resource}", exc) from exc

    def info(self, resource: str) -> dict[str, str]:
        _check(resource)
        try:
            with self.cluster.connect() as conn:
                row = conn.execute(
                    "SELECT current_setting('server_version'), "
                    "pg_size_pretty(pg_database_size(%s)), "
                    "(SELECT count(*) FROM pg_stat_activity WHERE datname = %s), "
                    "current_setting('max_connections')",
                    (resource, resource),
                ).fetchone()
            with self.cluster.connect(resource) as conn:
                tables = conn.execute(
                    "SELECT count(*) FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                ).fetchone()
        except psycopg.Error as exc:
            raise self._fail(f"Could not read the facts of {resource}", exc) from exc
        assert row is not None and tables is not None
        return {
            "Status": "Available",
            "PG Version": str(row[0]),
            "Data Size": str(row[1]),
            "Tables": str(tables[0]),
            "Connections": f"{row[2]}/{row[3]}",
            "Database": resource,
            "Port": str(self.cluster.port),
        }

    def ensure_running(self, resources: list[str]) -> None:
        """The cluster is one server for every add-on: start it if it does not answer."""
        self.cluster.ensure_running()
