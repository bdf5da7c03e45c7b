"""Verified backups of the ``postgresql`` add-on against the plain PostgreSQL tools.

Run as root with the project's venv (needs the Debian PostgreSQL binaries; no platform)::

    .venv/bin/python bench/pg_backups.py [--rows 5000000] [--runs 3]

It starts its own throwaway cluster (a temporary directory, a free port in 17432-17499),
creates a role ``bench_owner`` and a database ``bench_src`` owned by it, and fills it as
that role with ``generate_series``: ``--rows`` rows in all, 4/5 in ``events`` (primary key
plus an index on ``(account, at)``) and 1/5 in ``accounts`` (primary key). At 5M rows the
database is over 1 GB (``pg_database_size`` is reported). Then, ``--runs`` times, with the
order alternated between runs:

* **capture**: ``backups.capture()`` (pg_dump -Fc in an exported snapshot, plus the row
  counts and checksums of every table in the same snapshot, concurrently) against plain
  ``pg_dump -Fc --no-owner --no-privileges`` of the same database to a file;
* **restore**: ``backups.restore()`` of that capture into ``bench_dst`` (header check,
  load into a scratch database as the owner, swap by renaming, drop of the old content)
  against plain ``pg_restore --no-owner --no-privileges --exit-on-error`` of the plain dump
  into a fresh empty database;
* **verify**: ``backups.verify()`` (load into a scratch database, sums, drop), shown with
  its ratio to the same plain ``pg_restore``.

It prints each run, the best of each, the ratio of the bests and the ratio within each
run to the plain tool (target: capture and restore within 1.2x), the sizes, and whether
the restored database's sums equal the capture's. Everything it creates (cluster, files)
is removed at the end, also on errors.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from moorage.addons.postgres import backups
from moorage.addons.postgres.cluster import Cluster, find_bin_dir

OWNER, SRC, DST = "bench_owner", "bench_src", "bench_dst"

SCHEMA = """
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(14, 2),
  created timestamptz NOT NULL, profile jsonb);
CREATE TABLE events (id bigint PRIMARY KEY, account bigint NOT NULL, kind text NOT NULL,
  payload text, at timestamptz NOT NULL);
"""
FILL_ACCOUNTS = """
INSERT INTO accounts SELECT i, 'user' || i || '@example.test', (random() * 1e6)::numeric(14, 2),
  timestamptz '2024-01-01' + i * interval '1 second',
  jsonb_build_object('plan', (ARRAY['free', 'pro', 'team'])[1 + i % 3], 'tag', md5(i::text))
FROM generate_series(1, {n}) i
"""
FILL_EVENTS = """
INSERT INTO events SELECT i, 1 + (i * 7919) % {accounts},
  (ARRAY['login', 'view', 'click', 'purchase'])[1 + i % 4],
  md5(random()::text) || ' ' || md5(i::text) || ' ' || md5((i * 31)::text),
  timestamptz '2025-01-01' + i * interval '3 seconds'
FROM generate_series({first}::bigint, {last}) i
"""


def free_port() -> int:
    for port in range(17432, 17500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("no free port in 17432-17499")


def psql_as_owner(cluster: Cluster, database: str, sql_text: str) -> None:
    with cluster.connect(database) as conn:
        conn.execute(f"SET ROLE {OWNER}")
        conn.execute(sql_text)


def setup(cluster: Cluster, rows: int) -> int:
    """Create and fill bench_src; its size in bytes."""
    with cluster.connect() as admin:
        admin.execute(f"CREATE ROLE {OWNER} LOGIN")
        for db in (SRC, DST):
            admin.execute(f"CREATE DATABASE {db} OWNER {OWNER}")
    accounts = max(rows // 5, 1)
    psql_as_owner(cluster, SRC, SCHEMA)
    psql_as_owner(cluster, SRC, FILL_ACCOUNTS.format(n=accounts))
    events, chunk = rows - accounts, 1_000_000
    for first in range(1, events + 1, chunk):
        last = min(first + chunk - 1, events)
        psql_as_owner(cluster, SRC, FILL_EVENTS.format(accounts=accounts, first=first, last=last))
        print(f"  events {last:,}/{events:,}", flush=True)
    psql_as_owner(cluster, SRC, "CREATE INDEX events_account_at ON events (account, at)")
    with cluster.connect(SRC) as conn:
        conn.execute("VACUUM (ANALYZE, FREEZE)")  # hint bits set: no dump pays for them
        conn.execute("CHECKPOINT")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(str(row[0]))


def timed(fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def tool(cluster: Cluster, name: str, *args: str) -> list[str]:
    return [
        "runuser", "-u", "postgres", "--", str(find_bin_dir() / name),
        "-h", str(cluster.sockets), "-p", str(cluster.port), "-U", "postgres", *args,
    ]  # fmt: skip


def plain_dump(cluster: Cluster, dest: Path) -> None:
    with dest.open("wb") as out:
        argv = tool(cluster, "pg_dump", "-Fc", "--no-owner", "--no-privileges", "-d", SRC)
        subprocess.run(argv, stdout=out, check=True)
    dest.chmod(0o644)  # pg_restore below opens it as the postgres user


def plain_restore(cluster: Cluster, dump: Path, run: int) -> float:
    db = f"bench_plain_{run}"
    with cluster.connect() as admin:
        admin.execute(f"CREATE DATABASE {db} TEMPLATE template0")
    argv = tool(
        cluster, "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
        "-d", db, str(dump),
    )  # fmt: skip
    seconds = timed(lambda: subprocess.run(argv, check=True))
    with cluster.connect() as admin:
        admin.execute(f"DROP DATABASE {db} WITH (FORCE)")
    return seconds


def one_run(cluster: Cluster, work: Path, run: int) -> dict[str, float]:
    """One run of every measurement; even runs start with the plain tool, odd ones with ours."""
    mine, plain = work / f"capture{run}.dump", work / f"plain{run}.dump"
    t: dict[str, float] = {}
    dumps = ["pg_dump", "capture"] if run % 2 == 0 else ["capture", "pg_dump"]
    for name in dumps:
        if name == "pg_dump":
            t[name] = timed(lambda: plain_dump(cluster, plain))
        else:
            cap = backups.capture(cluster, SRC, mine)
            t[name] = cap.seconds
        print(f"  run {run + 1}: {name} {t[name]:.1f} s", flush=True)
    for name in ["pg_restore", "restore"] if run % 2 == 0 else ["restore", "pg_restore"]:
        if name == "pg_restore":
            t[name] = plain_restore(cluster, plain, run)
        else:
            t[name] = timed(lambda: backups.restore(cluster, DST, OWNER, mine))
        print(f"  run {run + 1}: {name} {t[name]:.1f} s", flush=True)
    result = backups.verify(cluster, mine, cap.tables)
    assert result.ok, result.detail
    t["verify"] = result.seconds
    print(f"  run {run + 1}: verify {result.seconds:.1f} s ({result.detail})", flush=True)
    CAPTURES[run] = cap
    return t


CAPTURES: dict[int, backups.Capture] = {}


def report(t: dict[str, list[float]], sizes: dict[str, int], match: bool, extra: str) -> None:
    runs = len(t["capture"])
    head = ["operation", *(f"run {i + 1} s" for i in range(runs)), "best s", "plain tool",
            "plain best s", "ratio (best)", "ratio per run"]  # fmt: skip
    rows = []
    for mine, plain, label in (
        ("capture", "pg_dump", "pg_dump -Fc"),
        ("restore", "pg_restore", "pg_restore"),
        ("verify", "pg_restore", "pg_restore"),
    ):
        best, base = min(t[mine]), min(t[plain])
        paired = " ".join(f"{m / p:.2f}" for m, p in zip(t[mine], t[plain], strict=True))
        rows.append([mine, *(f"{s:.1f}" for s in t[mine]), f"{best:.1f}", label,
                     f"{base:.1f}", f"{best / base:.2f}x", paired])  # fmt: skip
    for plain in ("pg_dump", "pg_restore"):
        rows.append([plain, *(f"{s:.1f}" for s in t[plain]), f"{min(t[plain]):.1f}"])
        rows[-1] += [""] * (len(head) - len(rows[-1]))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)))
    print("(ratio per run: ours / the plain tool in the same run; the order alternates by run)")
    print()
    for name, size in sizes.items():
        print(f"{name:>24}: {size:>15,} bytes ({size / 2**20:,.1f} MiB)")
    print(f"restored sums equal the capture's: {'yes' if match else 'NO'}")
    print(extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (runuser to the postgres user)")
    root = Path(tempfile.mkdtemp(prefix="moorage-bench-pg-"))
    root.chmod(0o711)
    cluster = Cluster(root / "pg", free_port(), ["127.0.0.1"])
    work = root / "files"
    work.mkdir()
    work.chmod(0o711)
    try:
        cluster.ensure_running()
        print(f"cluster on port {cluster.port} in {root}; filling {args.rows:,} rows", flush=True)
        db_size = setup(cluster, args.rows)
        print(f"bench_src: {db_size:,} bytes; load {os.getloadavg()[0]:.2f}", flush=True)
        per_run = [one_run(cluster, work, run) for run in range(args.runs)]
        t = {k: [r[k] for r in per_run] for k in per_run[0]}
        last = work / f"capture{args.runs - 1}.dump"
        match = backups.table_sums(cluster, DST) == CAPTURES[args.runs - 1].tables
        sizes = {
            "pg_database_size(src)": db_size,
            "capture dump": last.stat().st_size,
            "plain pg_dump -Fc": (work / f"plain{args.runs - 1}.dump").stat().st_size,
        }
        rows = sum(s.rows for s in CAPTURES[args.runs - 1].tables.values())
        load = os.getloadavg()
        extra = (
            f"{args.rows:,} rows requested, {rows:,} in the capture's sums; "
            f"{os.cpu_count()} CPUs, load average at the end {load[0]:.2f} (1 min) "
            f"{load[1]:.2f} (5 min)"
        )
        print()
        report(t, sizes, match, extra)
        return 0
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
