"""The verified-backup engine of the ``postgresql`` add-on against a real PostgreSQL.

Each test module run starts its own cluster (a temporary data dir, a free port of
tests.pgscratch.SCRATCH_PORTS) and stops it at the end; the platform's own cluster is never
touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from moorage.addons.postgres import backups
from moorage.addons.postgres.backups import TableSum
from moorage.addons.postgres.cluster import Cluster
from moorage.errors import ComponentFailed, InvalidParams
from tests.pgscratch import scratch_cluster

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE FUNCTION not_superuser(int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'user code ran as a superuser';
  END IF;
  RETURN true;
END $$;
CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, price numeric(12, 2),
  at timestamptz NOT NULL DEFAULT now(), tags jsonb, ratio float8, guarded int
  CHECK (not_superuser(guarded)));
CREATE INDEX items_name ON items (lower(name));
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigserial PRIMARY KEY, item bigint REFERENCES items (id)
  ON DELETE CASCADE, qty int, t text);
CREATE TABLE events (id bigint, day date NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
"""

FILL = """
INSERT INTO items (name, price, tags, ratio, guarded)
  SELECT 'item ' || md5(random()::text), (random() * 1000)::numeric(12, 2),
         jsonb_build_object('n', i, 'even', i % 2 = 0), random(), i
  FROM generate_series(1, {n}) i;
INSERT INTO shop.orders (item, qty, t) SELECT id, id % 7, md5(id::text) FROM items;
INSERT INTO events SELECT i, date '2025-06-01' + (i % 400) FROM generate_series(1, {n}) i;
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with scratch_cluster("moorage-pgbackups-") as c:
        yield c


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="moorage-pgbackups-files-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Db:
    """A database owned by its own login role, filled by that role."""

    def __init__(self, cluster: Cluster, rows: int) -> None:
        self.cluster = cluster
        self.name = self.owner = f"bk_{secrets.token_hex(4)}"
        with cluster.connect() as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(self.owner)))
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(self.name), sql.Identifier(self.owner)
                )
            )
        with self.connect() as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self.owner)))
            conn.execute(SCHEMA)
            conn.execute(FILL.format(n=int(rows)))

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return self.cluster.connect(self.name)

    def sums(self) -> dict[str, TableSum]:
        return backups.table_sums(self.cluster, self.name)

    def drop(self) -> None:
        with self.cluster.connect() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.owner)))


@pytest.fixture
def db(cluster: Cluster) -> Iterator[Db]:
    d = Db(cluster, 20_000)
    yield d
    d.drop()
    assert _leftovers(cluster) == []


def _leftovers(cluster: Cluster) -> list[str]:
    with cluster.connect() as admin:
        rows = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'moorage\\_%'"
            " UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE 'moorage\\_%'"
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_round_trip_restores_owned_objects_and_settings(db: Db, workdir: Path) -> None:
    dump = workdir / "b001.dump"
    cap = backups.capture(db.cluster, db.name, dump)
    assert dump.exists() and not dump.with_suffix(".partial").exists()
    assert cap.size == dump.stat().st_size and cap.seconds > 0
    assert cap.tables == db.sums()
    assert set(cap.tables) == {
        "public.items", "public.events_2025", "public.events_2026", "shop.orders"
    }  # fmt: skip
    assert cap.tables["public.items"].rows == 20_000
    assert oct(dump.stat().st_mode & 0o777) == "0o600"

    with db.connect() as conn:
        conn.execute("DELETE FROM items WHERE id % 3 = 0")
        conn.execute("UPDATE events SET id = -id")
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET work_mem = '7MB'").format(sql.Identifier(db.name))
        )
    assert db.sums() != cap.tables
    bystander = db.connect()  # a session on the target: the restore ends it
    backups.restore(db.cluster, db.name, db.owner, dump)
    assert _ended(bystander)
    bystander.close()

    assert db.sums() == cap.tables
    with db.connect() as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = relnamespace WHERE nspname IN ('public', 'shop')"
        ).fetchall()
        assert owners == [(db.owner,)]
        assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
        dba = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert dba == (db.owner,)
        conn.execute("CREATE ROLE bk_probe")
        try:
            may = "SELECT has_database_privilege(%s, current_database(), 'CONNECT')"
            assert conn.execute(may, ("bk_probe",)).fetchone() == (False,)  # not PUBLIC
            assert conn.execute(may, (db.owner,)).fetchone() == (True,)
        finally:
            conn.execute("DROP ROLE bk_probe")

    # The owner, with a password, reaches its restored database over TCP (pg_hba sameuser).
    with db.cluster.connect() as admin:
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD 'pw-test'").format(sql.Identifier(db.owner)))
    with psycopg.connect(
        host="127.0.0.1", port=db.cluster.port, user=db.owner, password="pw-test", dbname=db.name
    ) as app:
        assert app.execute("SELECT count(*) FROM shop.orders").fetchone() == (20_000,)

    result = backups.verify(db.cluster, dump, cap.tables)
    assert result.ok, result.detail
    assert result.detail == "4 tables, 60,000 rows match"


def _ended(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_capture_under_write_load_verifies(cluster: Cluster, workdir: Path) -> None:
    db = Db(cluster, 200_000)
    stop, writes = threading.Event(), [0]

    def writer() -> None:
        with db.connect() as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(db.owner)))
            while not stop.is_set():
                conn.execute(
                    "INSERT INTO items (name, price, guarded) VALUES ('live', 1, 1) RETURNING id"
                )
                conn.execute(
                    "UPDATE items SET price = price + 1 WHERE id = %s", (writes[0] % 1000 + 1,)
                )
                conn.execute("DELETE FROM shop.orders WHERE id = %s", (writes[0] + 1,))
                writes[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while writes[0] < 20:
            assert thread.is_alive(), "the writer failed"
            time.sleep(0.01)
        before = writes[0]
        cap = backups.capture(cluster, db.name, workdir / "busy.dump")
        during = writes[0] - before
    finally:
        stop.set()
        thread.join()
    try:
        assert during > 0, "the writer did not write while the capture ran"
        assert db.sums() != cap.tables  # the database moved on after the snapshot
        result = backups.verify(cluster, workdir / "busy.dump", cap.tables)
        assert result.ok, result.detail
    finally:
        db.drop()
    assert _leftovers(cluster) == []


@pytest.mark.parametrize("damage", ["truncated", "header_only", "random", "missing"])
def test_corrupt_archive_is_refused_and_target_unchanged(
    db: Db, workdir: Path, damage: str
) -> None:
    good = workdir / "good.dump"
    backups.capture(db.cluster, db.name, good)
    bad = workdir / "bad.dump"
    data = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "header_only":
        bad.write_bytes(data[:64])
    elif damage == "random":
        bad.write_bytes(os.urandom(200_000))
    with db.connect() as conn:
        conn.execute("DELETE FROM items WHERE id > 15000")
    before = db.sums()

    with pytest.raises(InvalidParams):
        backups.check_archive(bad)
    with pytest.raises(InvalidParams, match=f"Database {db.name} was not changed"):
        backups.restore(db.cluster, db.name, db.owner, bad)
    assert db.sums() == before
    assert _leftovers(db.cluster) == []


def test_failed_load_leaves_target_unchanged(db: Db, cluster: Cluster, workdir: Path) -> None:
    """A valid archive the owner may not restore (an event trigger needs a superuser)."""
    src = Db(cluster, 10)
    try:
        with src.connect() as conn:  # as postgres
            conn.execute(
                "CREATE FUNCTION noop() RETURNS event_trigger LANGUAGE plpgsql"
                " AS $$ BEGIN END $$; CREATE EVENT TRIGGER et ON ddl_command_start"
                " EXECUTE FUNCTION noop()"
            )
        cap = backups.capture(cluster, src.name, workdir / "et.dump")
    finally:
        src.drop()
    backups.check_archive(workdir / "et.dump")
    before = db.sums()
    with pytest.raises(ComponentFailed, match=f"Database {db.name} was not changed") as err:
        backups.restore(cluster, db.name, db.owner, workdir / "et.dump")
    assert "event trigger" in str(err.value)
    assert db.sums() == before
    with db.connect() as conn:  # connections are allowed again
        assert conn.execute(
            "SELECT datallowconn FROM pg_database WHERE datname = %s", (db.name,)
        ).fetchone() == (True,)
    result = backups.verify(cluster, workdir / "et.dump", cap.tables)
    assert not result.ok and "the backup does not restore" in result.detail


def test_disk_full_during_capture(db: Db, workdir: Path) -> None:
    mnt = workdir / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        with pytest.raises(ComponentFailed, match="backup volume is full"):
            backups.capture(db.cluster, db.name, mnt / "b002.dump")
        assert list(mnt.iterdir()) == []
    finally:
        _umount(mnt)


def _umount(mnt: Path, timeout: float = 30) -> None:
    """Unmount ``mnt``, retrying for ``timeout`` s while it is busy (a process that wrote
    there may not have let go yet), then detach it lazily: a busy mount must not replace
    the test's own failure."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
        if time.monotonic() >= deadline:
            subprocess.run(["umount", "-l", str(mnt)], check=True, capture_output=True)
            return
        time.sleep(0.5)


def test_capture_of_a_missing_database_fails_cleanly(cluster: Cluster, workdir: Path) -> None:
    with pytest.raises(ComponentFailed, match="no_such_db"):
        backups.capture(cluster, "no_such_db", workdir / "x.dump")
    assert list(workdir.iterdir()) == []
    with pytest.raises(InvalidParams):
        backups.capture(cluster, "Bad-Name; DROP", workdir / "x.dump")


def test_verify_detects_a_mismatch(db: Db, workdir: Path) -> None:
    cap = backups.capture(db.cluster, db.name, workdir / "b003.dump")
    expected = dict(cap.tables)
    items, orders = expected["public.items"], expected["shop.orders"]
    expected["public.items"] = replace(items, rows=items.rows + 1)
    expected["shop.orders"] = replace(orders, checksum=str(int(orders.checksum) + 1))
    del expected["public.events_2026"]
    expected["public.gone"] = TableSum(rows=1, checksum="1")

    result = backups.verify(db.cluster, workdir / "b003.dump", expected)
    assert not result.ok
    assert "public.items (20,000 rows, expected 20,001)" in result.detail
    assert "shop.orders (same 20,000 rows, different content)" in result.detail
    assert "missing from the restore: public.gone" in result.detail
    assert "not in the original: public.events_2026" in result.detail


ODD_SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE odd (t text, "ROW" int, m mood, p positive, g int GENERATED ALWAYS AS (p * 2)
  STORED, f float8, b bytea, iv interval, ts timestamptz, arr int[], pt point);
CREATE TABLE no_columns ();
CREATE TABLE secret (id int, who text);
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret FORCE ROW LEVEL SECURITY;
CREATE POLICY mine ON secret USING (who = current_user);
CREATE MATERIALIZED VIEW odd_count AS SELECT count(*) FROM odd;
SELECT lo_from_bytea(0, 'large object');
INSERT INTO odd (t, "ROW", m, p, f, b, iv, ts, arr, pt)
  SELECT 'x' || i, i, 'ok', i, i / 3.0, '\\x0102', '1 day 2 hours', now(), ARRAY[i, i],
         point(i, i) FROM generate_series(1, 1000) i;
INSERT INTO no_columns SELECT FROM generate_series(1, 5);
"""


def test_unusual_schema_round_trips(cluster: Cluster, workdir: Path) -> None:
    """Enums, domains, generated columns, a column named t, no columns, forced row-level
    security hiding rows from the owner, a time zone set on the database."""
    db = Db(cluster, 10)
    try:
        with db.connect() as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(db.owner)))
            conn.execute(ODD_SCHEMA)
            conn.execute("RESET ROLE")
            conn.execute("INSERT INTO secret SELECT i, 'someone else' FROM generate_series(1, 9) i")
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET timezone = 'Asia/Tokyo'").format(
                    sql.Identifier(db.name)
                )
            )
        cap = backups.capture(cluster, db.name, workdir / "odd.dump")
        assert cap.tables["public.secret"].rows == 9
        assert cap.tables["public.no_columns"].rows == 5
        assert backups.verify(cluster, workdir / "odd.dump", cap.tables).ok
        with db.connect() as conn:
            conn.execute("DELETE FROM odd WHERE p > 10")
        backups.restore(cluster, db.name, db.owner, workdir / "odd.dump")
        assert db.sums() == cap.tables
        with db.connect() as conn:
            assert conn.execute("SELECT * FROM odd_count").fetchone() == (1000,)
            assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == (1,)
    finally:
        db.drop()
