"""Verified backups of the ``postgresql`` add-on: capture, verify, restore.

Pure functions over a :class:`~moorage.addons.postgres.cluster.Cluster`; the service layer
keeps the records, ids, threads and retention.

* :func:`capture` runs ``pg_dump -Fc`` in an exported snapshot and, in the same snapshot and
  at the same time, sums every user table (:func:`table_sums`): the sums describe exactly
  the rows in the dump.
* :func:`verify` restores a dump into a scratch database and compares its sums.
* :func:`restore` replaces a database with a dump's content: the dump loads into a scratch
  database, which is swapped in by renaming only once the whole dump has loaded.

Dumps are loaded by a temporary login role that is never a superuser (named like the
scratch database, as ``pg_hba``'s ``host sameuser`` line requires, over TCP on 127.0.0.1),
with ``--role=<owner>`` for :func:`restore`. So SQL in an archive (``RESET ROLE`` included)
and user functions that ``CHECK`` constraints or index builds call run with the owner's
rights at most, never the superuser's.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from moorage.addons.postgres.cluster import OS_USER, Cluster, find_bin_dir
from moorage.errors import ComponentFailed, InvalidParams, MoorageError, NotFound

log = logging.getLogger("moorage.addons.postgres.backups")
Conn = psycopg.Connection[tuple[object, ...]]

NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED = frozenset({"postgres", "template0", "template1"})
LOCK_WAIT = "60s"

# Fixed per transaction so that a row is written as the same text whatever the database's
# or role's own settings are (a restored database has no ALTER DATABASE ... SET of its own).
_TEXT_SETTINGS = {
    "TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
    "extra_float_digits": "1", "bytea_output": "hex", "lc_monetary": "C",
    "search_path": "pg_catalog", "lock_timeout": LOCK_WAIT,
}  # fmt: skip

_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
_SUM = "SELECT count(*), coalesce(sum(hashtextextended(ROW(t.*)::text, 0)), 0) FROM ONLY {}.{} t"


@dataclass(frozen=True)
class TableSum:
    """One table's row count and order-independent checksum of its rows."""

    rows: int
    checksum: str


@dataclass(frozen=True)
class Capture:
    """A finished dump: its size in bytes, how long it took, and the sums of its tables."""

    size: int
    seconds: float
    tables: dict[str, TableSum]


@dataclass(frozen=True)
class Verification:
    """The outcome of restoring a dump and comparing its sums."""

    ok: bool
    seconds: float
    detail: str


def check_name(name: str, what: str) -> None:
    """Raise InvalidParams unless ``name`` is a plain identifier and not a system database."""
    if not NAME_RE.fullmatch(name) or name in RESERVED:
        raise InvalidParams(
            f"{name!r} is not a valid {what} name: use lowercase letters, digits and "
            "underscores (not postgres or template0/1)."
        )


def _ddl(conn: Conn, template: str, *names: str) -> None:
    conn.execute(sql.SQL(template).format(*(sql.Identifier(n) for n in names)))


def _tail(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


def _env(password: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGAPPNAME="moorage-backups", PGSSLMODE="disable")
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def _tool(name: str, *args: str) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", str(find_bin_dir() / name), *args]


@contextmanager
def _connect(cluster: Cluster, database: str) -> Iterator[Conn]:
    try:
        conn = cluster.connect(database)
    except ComponentFailed as exc:
        raise ComponentFailed(f"Cannot connect to database {database}: {exc.__cause__}") from exc
    with conn:
        yield conn


# --- table sums ------------------------------------------------------------------------------


def _begin(conn: Conn, snapshot: str | None) -> None:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot is not None:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    # Beside a running pg_dump one backend is enough; alone, parallel scans are faster.
    workers = {"max_parallel_workers_per_gather": "0" if snapshot else "2"}
    for name, value in (_TEXT_SETTINGS | workers).items():
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))


def _sums_in(conn: Conn) -> dict[str, TableSum]:
    sums: dict[str, TableSum] = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        query = sql.SQL(_SUM).format(sql.Identifier(str(schema)), sql.Identifier(str(table)))
        rows, checksum = conn.execute(query).fetchone() or (0, 0)
        sums[f"{schema}.{table}"] = TableSum(rows=int(str(rows)), checksum=str(checksum))
    return sums


def table_sums(
    cluster: Cluster, database: str, *, snapshot: str | None = None
) -> dict[str, TableSum]:
    """Row count and checksum of every user table of ``database``, keyed ``schema.table``.

    All tables are read in one REPEATABLE READ transaction, in ``snapshot`` (an id from
    ``pg_export_snapshot()``) when given. The checksum is the sum over rows of a 64-bit hash
    of the row's text: it does not depend on row order or physical layout, and values are
    written with fixed settings (time zone, date and float formats). Sums compare within one
    PostgreSQL major version. Partitions count as tables of their own; temporary tables,
    extension-owned tables, views and materialized views are left out.
    """
    with _connect(cluster, database) as conn:
        try:
            _begin(conn, snapshot)
            return _sums_in(conn)
        except psycopg.Error as exc:
            raise ComponentFailed(f"Could not read the tables of {database}: {exc}") from exc


# --- capture ---------------------------------------------------------------------------------


def _open_partial(partial: Path) -> int:
    if not partial.parent.is_dir():
        log.error("the backup directory %s does not exist", partial.parent)
        raise ComponentFailed(
            "The platform's backup directory does not exist: the operator creates it (or "
            "mounts the backup volume; `moor server` logs where), then retry."
        )
    partial.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(partial, flags, 0o600)


def _disk_full(dest: Path) -> ComponentFailed:
    free = os.statvfs(dest.parent)
    log.error("the backup volume %s is full", dest.parent)
    return ComponentFailed(
        f"The backup volume is full: could not write {dest.name} "
        f"({free.f_bavail * free.f_frsize:,} bytes free). "
        "Delete old backups (or ask the operator for room) and retry."
    )


def _cancel_if_failed(proc: subprocess.Popen[bytes], conn: Conn) -> None:
    if proc.wait() != 0:
        conn.cancel_safe()


def _run_dump(cluster: Cluster, database: str, out: int, snapshot: str) -> dict[str, TableSum]:
    """pg_dump to ``out`` while this thread sums the tables in the same snapshot."""
    argv = _tool(
        "pg_dump", "-Fc", f"--snapshot={snapshot}", "--no-owner", "--no-privileges",
        f"--lock-wait-timeout={LOCK_WAIT}", "-h", str(cluster.sockets),
        "-p", str(cluster.port), "-U", "postgres", "-d", database,
    )  # fmt: skip
    tables: dict[str, TableSum] | None = None
    failure: psycopg.Error | None = None
    with tempfile.TemporaryFile() as err, _connect(cluster, database) as conn:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=_env())
        canceller = threading.Thread(target=_cancel_if_failed, args=(proc, conn), daemon=True)
        canceller.start()
        try:
            _begin(conn, snapshot)
            tables = _sums_in(conn)
        except psycopg.Error as exc:
            failure = exc
        finally:
            killed = tables is None and proc.poll() is None
            if killed:
                proc.kill()
            code = proc.wait()
            # its cancel must land now, while the connection is idle (a no-op), not
            # during the commit as the connection closes
            canceller.join()
        err.seek(0)
        message = err.read().decode(errors="replace")
    if code != 0 and not killed:
        if "No space left on device" in message:
            raise OSError(errno.ENOSPC, message)
        raise ComponentFailed(f"pg_dump of {database} failed: {_tail(message)}")
    if tables is None:
        raise ComponentFailed(f"Could not read the tables of {database}: {failure}")
    return tables


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def capture(cluster: Cluster, database: str, dest: Path) -> Capture:
    """Dump ``database`` to ``dest`` (pg_dump custom format) with the sums of its tables.

    The dump and the sums come from one snapshot, so they agree however busy the database
    is. The file is written as ``dest.with_suffix('.partial')`` (mode 0600) and renamed to
    ``dest`` only once complete and fsynced; on any failure (pg_dump fails, the backup
    volume fills up, the database goes away) no partial file is left and ComponentFailed
    says why. An existing ``dest`` is replaced.
    """
    check_name(database, "database")
    partial = dest.with_suffix(".partial")
    start = time.monotonic()
    try:
        fd = _open_partial(partial)
        try:
            with _connect(cluster, database) as exporter:
                exporter.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                row = exporter.execute("SELECT pg_export_snapshot()").fetchone()
                tables = _run_dump(cluster, database, fd, str(row[0] if row else ""))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(dest) from exc
        log.error("could not write the backup %s: %s", dest, exc)
        raise ComponentFailed(f"Could not write the backup {dest.name}: {exc.strerror}.") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Capture(size=dest.stat().st_size, seconds=time.monotonic() - start, tables=tables)


# --- archives and scratch databases ----------------------------------------------------------


def _pg_restore(dump: Path, args: list[str], password: str | None = None) -> tuple[int, str]:
    """pg_restore reading ``dump`` on stdin (the file may be readable by root only)."""
    try:
        with dump.open("rb") as fh:
            argv = _tool("pg_restore", *args)
            proc = subprocess.run(argv, stdin=fh, capture_output=True, env=_env(password))
    except OSError as exc:
        raise InvalidParams(f"Cannot read the backup {dump.name}: {exc.strerror}.") from exc
    out = proc.stdout if proc.returncode == 0 else proc.stderr
    return proc.returncode, out.decode(errors="replace")


def _check_header(dump: Path) -> None:
    bad = f"{dump.name} is not a readable pg_dump custom-format archive"
    if not dump.is_file():
        raise InvalidParams(f"{bad}: no such file. Choose an existing backup.")
    code, out = _pg_restore(dump, ["--list"])
    if code != 0:
        raise InvalidParams(f"{bad}: {_tail(out)}. Take a new backup or upload it again.")
    if "Format: CUSTOM" not in out:
        raise InvalidParams(f"{bad}: it is another pg_dump format. Use pg_dump -Fc.")


def _check_data(dump: Path) -> None:
    code, out = _pg_restore(dump, ["--file=/dev/null"])
    if code != 0:
        raise InvalidParams(
            f"{dump.name} is not a readable pg_dump custom-format archive: {_tail(out)}. "
            "The file is damaged or incomplete."
        )


def check_archive(dump: Path) -> None:
    """Raise InvalidParams unless ``dump`` is a complete, readable pg_dump custom archive.

    ``pg_restore --list`` checks the header and table of contents; a second pass reads and
    decompresses every data block (``pg_restore --file=/dev/null``), so a truncated or
    corrupted file is refused. No database is touched.
    """
    _check_header(dump)
    _check_data(dump)


@contextmanager
def _scratch(cluster: Cluster, kind: str, owner: str | None) -> Iterator[tuple[str, str]]:
    """(name, password) of a new database and a login role of that name; dropped on exit.

    The database belongs to ``owner`` (the role is a NOINHERIT member: it must SET ROLE),
    or to the role itself when no owner is given.
    """
    name, password = f"moorage_{kind}_{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    until = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(time.time() + 3600))
    try:
        with cluster.connect() as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {} VALID UNTIL {}").format(
                    sql.Identifier(name),
                    sql.SQL("NOINHERIT" if owner else "INHERIT"),
                    sql.Literal(password),
                    sql.Literal(until),
                )
            )
            if owner is not None:
                _ddl(admin, "GRANT {} TO {}", owner, name)
            _ddl(admin, "CREATE DATABASE {} OWNER {} TEMPLATE template0", name, owner or name)
            _ddl(admin, "REVOKE ALL ON DATABASE {} FROM PUBLIC", name)
            _ddl(admin, "GRANT CONNECT ON DATABASE {} TO {}", name, name)
    except psycopg.Error as exc:
        _drop_scratch(cluster, name)
        raise ComponentFailed(f"Could not prepare the scratch database {name}: {exc}") from exc
    try:
        yield name, password
    finally:
        _drop_scratch(cluster, name)


def _drop_scratch(cluster: Cluster, name: str) -> None:
    try:
        with cluster.connect() as admin:
            _ddl(admin, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
            _ddl(admin, "DROP ROLE IF EXISTS {}", name)
    except (psycopg.Error, MoorageError) as exc:
        log.error("could not drop the scratch database and role %s: %s", name, exc)


def _load(cluster: Cluster, scratch: tuple[str, str], dump: Path, role: str | None) -> str:
    """pg_restore ``dump`` into the scratch database; '' or the error."""
    if "127.0.0.1" not in cluster.listen:
        raise ComponentFailed(
            "Restoring needs the platform's PostgreSQL to listen on 127.0.0.1; it listens on "
            f"{', '.join(cluster.listen)}."
        )
    name, password = scratch
    args = [
        "--no-owner", "--no-privileges", "--no-tablespaces", "--no-subscriptions",
        "--no-security-labels", "--exit-on-error", "--no-password",
        "-h", "127.0.0.1", "-p", str(cluster.port), "-U", name, "-d", name,
    ]  # fmt: skip
    if role is not None:
        args.append(f"--role={role}")
    code, out = _pg_restore(dump, args, password)
    return "" if code == 0 else _tail(out) or f"pg_restore exited with {code}"


# --- verify and restore ----------------------------------------------------------------------


def compare(expected: dict[str, TableSum], actual: dict[str, TableSum]) -> tuple[bool, str]:
    """(True, summary) when the sums are equal, else (False, which tables differ and how)."""
    differ = []
    for key in sorted(expected.keys() & actual.keys()):
        want, got = expected[key], actual[key]
        if want.rows != got.rows:
            differ.append(f"{key} ({got.rows:,} rows, expected {want.rows:,})")
        elif want.checksum != got.checksum:
            differ.append(f"{key} (same {got.rows:,} rows, different content)")
    problems = []
    if differ:
        problems.append(f"{len(differ)} of {len(expected)} tables differ: {', '.join(differ)}")
    if missing := sorted(expected.keys() - actual.keys()):
        problems.append(f"missing from the restore: {', '.join(missing)}")
    if extra := sorted(actual.keys() - expected.keys()):
        problems.append(f"not in the original: {', '.join(extra)}")
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(expected)} tables, {sum(s.rows for s in expected.values()):,} rows match"


def verify(cluster: Cluster, dump: Path, expected: dict[str, TableSum]) -> Verification:
    """Restore ``dump`` into a scratch database and compare its sums with ``expected``.

    ``ok`` is True only if exactly the expected tables are there, each with the expected
    rows and checksum; otherwise, or when the dump does not restore, ``detail`` says what
    is wrong. The scratch database and its role are always dropped. Raises ComponentFailed
    only when PostgreSQL itself fails.
    """
    start = time.monotonic()
    with _scratch(cluster, "verify", None) as scratch:
        error = _load(cluster, scratch, dump, None)
        if error:
            return Verification(
                False, time.monotonic() - start, f"the backup does not restore: {error}"
            )
        actual = table_sums(cluster, scratch[0])
    ok, detail = compare(expected, actual)
    return Verification(ok, time.monotonic() - start, detail)


def _check_target(admin: Conn, database: str, owner: str) -> bool:
    """The target's datallowconn; NotFound/InvalidParams for a missing target or bad owner."""
    row = admin.execute("SELECT datallowconn FROM pg_database WHERE datname = %s", (database,))
    allow = row.fetchone()
    if allow is None:
        raise NotFound(f"Database {database} does not exist: there is nothing to restore into.")
    role = admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
    if role is None:
        raise NotFound(f"Role {owner} does not exist: restore needs the database's owner role.")
    if role[0]:
        raise InvalidParams(f"Role {owner} is a superuser: restore as an ordinary role.")
    return bool(allow[0])


def _swap_tx(admin: Conn, target: str, scratch: str, owner: str, old: str) -> None:
    """One transaction: target -> old, scratch -> target, with the old one's settings."""
    with admin.transaction():
        grants = admin.execute(
            "SELECT r.rolname, a.privilege_type FROM pg_database d CROSS JOIN LATERAL"
            " aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = %s",
            (target,),
        ).fetchall()
        _ddl(admin, "ALTER DATABASE {} RENAME TO {}", target, old)
        _ddl(admin, "ALTER DATABASE {} RENAME TO {}", scratch, target)
        # ALTER DATABASE / ALTER ROLE IN DATABASE ... SET: no SQL moves them to another database.
        admin.execute(
            "UPDATE pg_db_role_setting SET setdatabase = (SELECT oid FROM pg_database"
            " WHERE datname = %s) WHERE setdatabase = (SELECT oid FROM pg_database"
            " WHERE datname = %s)",
            (target, old),
        )
        _ddl(admin, "ALTER DATABASE {} OWNER TO {}", target, owner)
        _ddl(admin, "REVOKE ALL ON DATABASE {} FROM PUBLIC", target)
        for role, privilege in grants:
            admin.execute(
                sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                    sql.SQL(str(privilege)), sql.Identifier(target), sql.Identifier(str(role))
                )
            )
        _ddl(admin, "GRANT CONNECT ON DATABASE {} TO {}", target, owner)


def _swap_in(cluster: Cluster, target: str, scratch: str, owner: str) -> None:
    """Make the loaded ``scratch`` database ``target``, then drop the old content."""
    with cluster.connect(scratch) as conn:  # anything the archive made as the login role
        _ddl(conn, "REASSIGN OWNED BY {} TO {}", scratch, owner)
        _ddl(conn, "DROP OWNED BY {}", scratch)
    old = f"moorage_old_{secrets.token_hex(6)}"
    with cluster.connect() as admin:
        allow = sql.Literal(_check_target(admin, target, owner))
        _ddl(admin, "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", target)
        try:
            for attempt in range(5):
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (target,),
                )
                try:
                    _swap_tx(admin, target, scratch, owner, old)
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 4:
                        raise
        finally:  # the restored database gets the old one's setting (swapped) or it stays
            fix = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}")
            admin.execute(fix.format(sql.Identifier(target), allow))
        try:
            _ddl(admin, "DROP DATABASE {} WITH (FORCE)", old)
        except psycopg.Error as exc:
            log.error("restored %s, but could not drop its old copy %s: %s", target, old, exc)


def restore(cluster: Cluster, database: str, owner: str, dump: Path) -> None:
    """Replace the content of ``database`` with ``dump``; objects end up owned by ``owner``.

    The archive's header and table of contents are checked first; then it is loaded into a
    scratch database as ``owner`` (never as a superuser). Only once that has fully
    succeeded is ``database`` swapped for it, by renaming in one transaction: sessions on
    ``database`` are ended, its ALTER DATABASE settings and grants carry over, PUBLIC gets
    no access and ``owner`` may connect. On any failure ``database`` is left as it was and
    the error says so: InvalidParams when the archive is not readable or damaged (its data
    blocks are read in full, :func:`check_archive`, only when the load fails, so a good
    archive is read once), ComponentFailed when it does not load for another reason.
    """
    check_name(database, "database")
    check_name(owner, "role")
    with cluster.connect() as admin:
        _check_target(admin, database, owner)
    unchanged = f"Database {database} was not changed."
    try:
        _check_header(dump)
        with _scratch(cluster, "restore", owner) as scratch:
            if error := _load(cluster, scratch, dump, owner):
                _check_data(dump)  # InvalidParams when the archive itself is damaged
                raise ComponentFailed(f"Restoring {dump.name} failed: {error}.")
            _swap_in(cluster, database, scratch[0], owner)
    except psycopg.Error as exc:
        raise ComponentFailed(f"Restoring {dump.name} failed: {exc}. {unchanged}") from exc
    except MoorageError as exc:
        raise type(exc)(f"{exc.message} {unchanged}") from exc
