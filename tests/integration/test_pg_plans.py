"""Dedicated PostgreSQL plans on the real platform: rollback to a moment, forks, followers,
promote under load, and the faults the issue names."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.faults import wait_for_traffic, wrk_command
from tests.livefixtures import ACTORS, LivePlatform

pytestmark = pytest.mark.integration


def _host(url: str) -> str:
    """``url`` as the host reaches it (dynos use the bridge gateway's address)."""
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    creds = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{creds}@127.0.0.1:{parts.port}"))


def _config(platform: LivePlatform, app: str, key: str) -> str:
    return platform.moor("config:get", key, "-a", app).stdout.strip()


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(_host(url), connect_timeout=5, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def _run(url: str, *statements: str) -> None:
    with psycopg.connect(_host(url), connect_timeout=5, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _facts(platform: LivePlatform, app: str, addon: str) -> dict[str, str]:
    facts: dict[str, str] = platform.json("pg:info", addon, "-a", app)["facts"]
    return facts


def _cluster_dir(platform: LivePlatform, url: str) -> Path:
    port = urlsplit(url).port
    for d in (platform.data / "postgres-clusters").iterdir():
        if d.is_dir() and f'"port": {port},' in (d / "moorage.json").read_text():
            return d
    raise AssertionError(f"no cluster listens on {port}")


@pytest.fixture(scope="module")
def ledger(platform: LivePlatform) -> str:
    """An app with a standard-0 database holding a table of rows."""
    app = platform.create_app("ledger")
    platform.moor("addons:create", "postgresql:standard-0", "-a", app)
    url = _config(platform, app, "DATABASE_URL")
    _run(
        url,
        "CREATE TABLE entries (id int PRIMARY KEY, note text)",
        "INSERT INTO entries SELECT i, md5(i::text) FROM generate_series(1, 500) i",
    )
    return app


def test_pg_info_shows_plan_archive_and_window(platform: LivePlatform, ledger: str) -> None:
    facts = _facts(platform, ledger, "DATABASE")
    assert facts["Plan"] == "standard-0"
    assert facts["Continuous Protection"] == "On", facts
    assert facts["Rollback"].startswith("earliest from "), facts
    shown = platform.moor("pg:info", "-a", ledger).stdout
    assert "WAL Archive" in shown and "standard-0" in shown


def test_rollback_brings_back_rows_and_the_dropped_table(
    platform: LivePlatform, ledger: str
) -> None:
    url = _config(platform, ledger, "DATABASE_URL")
    _run(url, "CREATE TABLE keep (id int, at timestamptz default now())")
    _run(url, "INSERT INTO keep (id) SELECT generate_series(1, 300)")
    before = _rows(url, "SELECT id, at FROM keep ORDER BY id")
    time.sleep(1.5)
    t1 = datetime.now(UTC)
    time.sleep(1.5)
    _run(url, "INSERT INTO keep (id) VALUES (9999)", "DROP TABLE keep")  # T2
    to = t1.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    platform.moor(
        "addons:create", "postgresql:standard-0", "--rollback", "DATABASE", "--to", to,
        "--as", "ROLLED", "-a", ledger,
    )  # fmt: skip
    rolled = _config(platform, ledger, "ROLLED_URL")
    assert rolled != url
    assert _rows(rolled, "SELECT id, at FROM keep ORDER BY id") == before  # row by row
    assert _rows(rolled, "SELECT count(*) FROM entries") == [(500,)]
    with pytest.raises(psycopg.errors.UndefinedTable):
        _rows(url, "SELECT 1 FROM keep")  # the source still lacks it
    _run(rolled, "INSERT INTO keep (id) VALUES (1)")  # its own, writable


def test_fork_and_bad_rollback_targets(platform: LivePlatform, ledger: str) -> None:
    url = _config(platform, ledger, "DATABASE_URL")
    _run(url, "CREATE TABLE forked (v text)", "INSERT INTO forked VALUES ('right now')")
    platform.moor(
        "addons:create", "postgresql:standard-0", "--fork", "DATABASE_URL", "--as", "FORK",
        "-a", ledger,
    )  # fmt: skip
    fork = _config(platform, ledger, "FORK_URL")
    assert _rows(fork, "SELECT v FROM forked") == [("right now",)]
    assert urlsplit(fork).password != urlsplit(url).password
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S+00")
    bad = platform.moor(
        "addons:create", "postgresql:standard-0", "--rollback", "DATABASE", "--to", future,
        "-a", ledger, check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "in the future" in bad.stderr and "window" in bad.stderr
    early = platform.moor(
        "addons:create", "postgresql:standard-0", "--rollback", "DATABASE", "--by", "3 days",
        "-a", ledger, check=False,
    )  # fmt: skip
    assert early.returncode != 0 and "before the rollback window" in early.stderr, early.stderr
    assert "Traceback" not in bad.stderr + early.stderr


def test_mini_databases_cannot_be_followed(platform: LivePlatform) -> None:
    app = platform.create_app("minidb")
    platform.moor("addons:create", "postgresql", "-a", app)
    refused = platform.moor(
        "addons:create", "postgresql:standard-0", "--follow", "DATABASE", "-a", app, check=False
    )
    assert refused.returncode != 0 and "mini database" in refused.stderr
    info = platform.json("addons", "-a", app)
    assert [a["plan"]["name"] for a in info] == ["postgresql:mini"]


def test_follower_sees_writes_and_a_lagging_one_is_not_promoted(
    platform: LivePlatform, ledger: str
) -> None:
    url = _config(platform, ledger, "DATABASE_URL")
    made = platform.json(
        "addons:create", "postgresql:standard-0", "--follow", "DATABASE", "-a", ledger
    )
    var = made["config_vars"][0]
    assert var.startswith("HEROKU_POSTGRESQL_") and var.endswith("_URL")
    follower = _config(platform, ledger, var)
    _run(url, "CREATE TABLE seen (n int)", "INSERT INTO seen VALUES (1)")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            if _rows(follower, "SELECT n FROM seen") == [(1,)]:
                break
        except psycopg.errors.UndefinedTable:
            pass
        time.sleep(0.05)
    assert _rows(follower, "SELECT n FROM seen") == [(1,)], "not replayed within a second"
    assert "Behind By" in _facts(platform, ledger, made["name"])
    run = _cluster_dir(platform, follower) / "run"
    port = str(urlsplit(follower).port)
    admin = f"host={run} port={port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        _run(url, "INSERT INTO seen SELECT generate_series(1, 200000)")
        refused = platform.moor("pg:promote", made["name"], "-a", ledger, check=False)
        assert (
            refused.returncode != 0 and "behind" in refused.stderr and "--force" in (refused.stderr)
        ), refused.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    platform.moor("pg:unfollow", made["name"], "-a", ledger)
    _run(follower, "INSERT INTO seen VALUES (-2)")  # takes writes now
    assert _rows(url, "SELECT count(*) FROM seen WHERE n = -2") == [(0,)]


def test_a_killed_cluster_comes_back_with_every_commit(platform: LivePlatform, ledger: str) -> None:
    url = _config(platform, ledger, "DATABASE_URL")
    _run(url, "CREATE TABLE durable (n int)", "INSERT INTO durable VALUES (42)")
    pid = int((_cluster_dir(platform, url) / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            assert _rows(url, "SELECT n FROM durable") == [(42,)]
            return
        except psycopg.OperationalError:
            time.sleep(1)
    raise AssertionError("the dedicated cluster did not come back within a minute")


def test_promote_under_load_fails_no_request(platform: LivePlatform) -> None:
    app = platform.create_app("actors-ha")
    platform.moor("addons:create", "postgresql:standard-0", "-a", app)
    platform.moor("ps:port", "web", "5000", "-a", app)
    platform.moor("container:push", "web", "-a", app, cwd=ACTORS)
    platform.moor("container:release", "web", "-a", app, cwd=ACTORS)
    platform.wait_for(app, "Meryl Streep")
    old = _config(platform, app, "DATABASE_URL")
    made = platform.json(
        "addons:create", "postgresql:standard-0", "--follow", "DATABASE", "-a", app
    )
    result: list[str] = []
    load = threading.Thread(
        target=lambda: result.append(
            subprocess.run(
                wrk_command(platform, app, 25, connections=4),
                capture_output=True, text=True, check=True,
            ).stdout
        )
    )  # fmt: skip
    load.start()
    wait_for_traffic(platform, app)
    platform.moor("pg:promote", made["name"], "-a", app)
    load.join()
    out = result[0]
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 100  # type: ignore[union-attr]
    new = _config(platform, app, "DATABASE_URL")
    assert urlsplit(new).port != urlsplit(old).port
    _run(new, "INSERT INTO actors (name, born) VALUES ('Promoted Person', 1990)")
    platform.wait_for(app, "Promoted Person")  # the app reads what the new primary took
    names = {a["name"]: a["config_vars"] for a in platform.json("addons", "-a", app)}
    assert len(names) == 2 and [] in names.values()  # the old primary: detached, kept
    platform.moor("apps:destroy", "-a", app, "--confirm", app)


def _pooled(url: str) -> list[tuple[object, ...]]:
    """A query through PgBouncer: transaction pooling, so no server-side prepared statements."""
    with psycopg.connect(_host(url), connect_timeout=5, autocommit=True) as conn:
        conn.prepare_threshold = None
        return conn.execute("SELECT current_user, 1").fetchall()


def test_connection_pool_survives_restarts_and_rotation(platform: LivePlatform) -> None:
    app = platform.create_app("pooled")
    platform.moor("addons:create", "postgresql", "-a", app)
    platform.moor("pg:connection-pooling:attach", "DATABASE", "-a", app)
    pool = _config(platform, app, "DATABASE_CONNECTION_POOL_URL")
    direct = _config(platform, app, "DATABASE_URL")
    assert urlsplit(pool).port != urlsplit(direct).port
    assert urlsplit(pool).username == urlsplit(direct).username
    assert _pooled(pool)[0][0] == urlsplit(direct).username.rsplit("_", 1)[0]  # type: ignore[union-attr]
    platform.kill_server()
    platform.start_server()
    assert _pooled(pool)  # the pool outlives moor server
    platform.moor("pg:credentials:rotate", "-a", app)
    rotated = _config(platform, app, "DATABASE_CONNECTION_POOL_URL")
    assert urlsplit(rotated).username != urlsplit(pool).username
    assert urlsplit(rotated).port == urlsplit(pool).port
    assert _pooled(rotated)
    platform.moor("addons:detach", "DATABASE_CONNECTION_POOL", "-a", app)
    assert "DATABASE_CONNECTION_POOL_URL" not in platform.json("config", "-a", app)
    with pytest.raises(psycopg.OperationalError):
        _pooled(rotated)


def test_backups_rotation_psql_and_isolation_on_a_dedicated_plan(
    platform: LivePlatform, ledger: str
) -> None:
    url = _config(platform, ledger, "DATABASE_URL")
    backup = platform.json("pg:backups:capture", "-a", ledger)  # waits for its verification
    assert backup["status"] == "completed" and backup["verified"] == "verified", backup
    shown = platform.moor("pg:psql", "-a", ledger, "-c", "SELECT count(*) FROM entries").stdout
    assert "500" in shown
    platform.moor("pg:credentials:rotate", "-a", ledger)
    rotated = _config(platform, ledger, "DATABASE_URL")
    assert urlsplit(rotated).username != urlsplit(url).username
    assert _rows(rotated, "SELECT count(*) FROM entries") == [(500,)]
    other = platform.create_app("neighbour")
    platform.moor("addons:create", "postgresql:standard-0", "-a", other)
    theirs = _config(platform, other, "DATABASE_URL")
    port = urlsplit(url).port
    foreign = theirs.replace(f":{urlsplit(theirs).port}/", f":{port}/")
    with pytest.raises(psycopg.OperationalError):
        _rows(foreign, "SELECT 1")  # their role cannot reach this add-on's cluster
    mini = platform.create_app("minineighbour")
    platform.moor("addons:create", "postgresql", "-a", mini)
    shared = _config(platform, mini, "DATABASE_URL")
    with pytest.raises(psycopg.OperationalError):
        _rows(shared.replace(f":{urlsplit(shared).port}/", f":{port}/"), "SELECT 1")
    for name in (other, mini):  # dedicated clusters take ports: give them back
        platform.moor("apps:destroy", "-a", name, "--confirm", name)
