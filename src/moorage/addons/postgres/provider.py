"""The ``postgresql`` add-on: one database and one role per add-on on the managed cluster."""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from moorage.addons.postgres.cluster import Cluster, new_password
from moorage.errors import InvalidParams, RuntimeFailure

RESOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")


class PostgresProvider:
    service = "postgresql"
    config_var = "DATABASE_URL"

    def __init__(self, cluster: Cluster, public_host: str) -> None:
        self.cluster = cluster
        self.public_host = public_host

    def provision(self, resource: str) -> dict[str, str]:
        if not RESOURCE_RE.fullmatch(resource):
            raise InvalidParams(f"{resource!r} is not a valid database name.")
        password = new_password()
        ident = sql.Identifier(resource)
        try:
            with self.cluster.connect() as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (resource,)
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(
                    sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(
                        ident, sql.Literal(password)
                    )
                )
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (resource,)
                ).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
        except psycopg.Error as exc:
            raise RuntimeFailure(f"Could not create database {resource}: {exc}") from exc
        url = f"postgres://{resource}:{password}@{self.public_host}:{self.cluster.port}/{resource}"
        return {self.config_var: url}

    def deprovision(self, resource: str) -> None:
        if not RESOURCE_RE.fullmatch(resource):
            return
        ident = sql.Identifier(resource)
        try:
            with self.cluster.connect() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))
        except psycopg.Error as exc:
            raise RuntimeFailure(f"Could not drop database {resource}: {exc}") from exc
