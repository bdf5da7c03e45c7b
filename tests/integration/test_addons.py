"""Add-ons on the real platform: verified backups, isolation, rotation under load, redis."""

from __future__ import annotations

import functools
import http.server
import os
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from moorage.server.services.backups import next_due
from tests.faults import wait_for_traffic, wrk_command
from tests.livefixtures import OUTSIDE, LivePlatform, in_pty, stop_cluster

pytestmark = pytest.mark.integration

CHECKSUM = "SELECT count(*) || ':' || md5(string_agg(name || born, ',' ORDER BY id)) FROM actors"


def _psql(platform: LivePlatform, app: str, sql: str) -> str:
    return platform.moor("pg:psql", "-a", app, "-c", sql).stdout


def _config(platform: LivePlatform, app: str, key: str) -> str:
    return platform.moor("config:get", key, "-a", app).stdout.strip()


def _from_host(url: str) -> str:
    """``url`` as the host reaches it: over loopback (dynos use the bridge gateway's IP)."""
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    return urlunsplit(
        parts._replace(netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{parts.port}")
    )


def _connects(url: str) -> bool:
    try:
        with psycopg.connect(_from_host(url), connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


def test_backup_round_trip_is_verified_by_a_restore(platform: LivePlatform, actors: str) -> None:
    platform.wait_for(actors, "Meryl Streep")
    _psql(
        platform,
        actors,
        "INSERT INTO actors (name, born) "
        "SELECT 'Extra ' || g, 1900 + g % 100 FROM generate_series(1, 5000) g",
    )
    before = _psql(platform, actors, CHECKSUM)
    assert "5008:" in before
    backup = platform.json("pg:backups:capture", "-a", actors)
    assert (backup["status"], backup["verified"]) == ("completed", "verified")
    assert backup["tables"]["public.actors"]["rows"] == 5008
    _psql(platform, actors, "DELETE FROM actors")
    assert "0:" in _psql(platform, actors, "SELECT count(*) || ':' FROM actors")
    platform.moor("pg:backups:restore", backup["id"], "-a", actors, "--confirm", actors)
    assert _psql(platform, actors, CHECKSUM) == before
    listed = platform.json("pg:backups", "-a", actors)
    assert [(b["id"], b["verified"]) for b in listed][-1] == (backup["id"], "verified")
    logs = platform.moor("logs", "-a", actors, "-n", "1000").stdout
    assert re.search(rf"Backup {backup['id']} of \S+ verified by a test restore", logs)
    out = Path(platform.data / "download.dump")
    platform.moor("pg:backups:download", backup["id"], "-a", actors, "-o", str(out))
    assert out.read_bytes()[:5] == b"PGDMP"


def test_restore_refuses_bad_input_and_keeps_the_data(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    before = _psql(platform, actors, CHECKSUM)
    unconfirmed = platform.moor("pg:backups:restore", "-a", actors, check=False)
    assert unconfirmed.returncode == 2 and "--confirm" in unconfirmed.stderr
    missing = platform.moor(
        "pg:backups:restore", "b999", "-a", actors, "--confirm", actors, check=False
    )
    assert missing.returncode == 4 and "b999" in missing.stderr
    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_bytes(b"PGDMP" + bytes(range(256)) * 40)
    bad = platform.moor(
        "pg:backups:restore", str(corrupt), "-a", actors, "--confirm", actors, check=False
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert _psql(platform, actors, CHECKSUM) == before
    unknown = platform.moor("addons:create", "mongodb", "-a", actors, check=False)
    assert unknown.returncode == 2 and "postgresql" in unknown.stderr


def test_an_attached_addon_cannot_be_destroyed_by_accident(
    platform: LivePlatform, actors: str
) -> None:
    other = platform.create_app("reader")
    addon = platform.json("addons", "-a", actors)[0]["name"]
    platform.moor("addons:attach", addon, "-a", other, "--as", "ACTORS_DB")
    assert _config(platform, other, "ACTORS_DB_URL") == _config(platform, actors, "DATABASE_URL")
    refused = platform.moor("addons:destroy", addon, "-a", actors, "--confirm", actors, check=False)
    assert refused.returncode == 5 and other in refused.stderr
    platform.moor("addons:detach", addon, "-a", other)
    assert _config(platform, other, "ACTORS_DB_URL") == ""


def test_other_apps_credentials_cannot_reach_a_database(
    platform: LivePlatform, actors: str
) -> None:
    other = platform.create_app("intruder")
    platform.moor("addons:create", "postgresql", "-a", other)
    mine = _config(platform, actors, "DATABASE_URL")
    theirs = _config(platform, other, "DATABASE_URL")
    assert _connects(theirs)
    target_db = mine.rsplit("/", 1)[1]
    foreign = theirs.rsplit("/", 1)[0] + "/" + target_db  # A's host, port and database
    assert not _connects(foreign)
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf|permission denied"):
        psycopg.connect(_from_host(foreign), connect_timeout=5)


def _wrk(platform: LivePlatform, app: str, seconds: int) -> str:
    return subprocess.run(
        wrk_command(platform, app, seconds, connections=4),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_credential_rotation_under_load_fails_no_request(
    platform: LivePlatform, actors: str
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    old = _config(platform, actors, "DATABASE_URL")
    result: list[str] = []
    load = threading.Thread(target=lambda: result.append(_wrk(platform, actors, 25)))
    load.start()
    wait_for_traffic(platform, actors)
    platform.moor("pg:credentials:rotate", "-a", actors)
    deadline = time.monotonic() + 60
    while _connects(old) and time.monotonic() < deadline:
        time.sleep(1)
    load.join()
    out = result[0]
    assert not _connects(old), "the old credentials still work a minute after the rotation"
    new = _config(platform, actors, "DATABASE_URL")
    assert new != old and _connects(new)
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    assert requests > 100
    assert platform.get(actors).status_code == 200
    # a rollback to the deploy before the rotation keeps the credentials that work
    releases = platform.json("releases", "-a", actors)
    deploy = max(r["version"] for r in releases if r["description"].startswith("Deploy"))
    platform.moor("releases:rollback", f"v{deploy}", "-a", actors)
    assert _config(platform, actors, "DATABASE_URL") == new
    platform.wait_for(actors, "Meryl Streep")


def test_redis_addon_survives_a_server_restart(platform: LivePlatform) -> None:
    app = platform.create_app("cache")
    platform.moor("addons:create", "redis", "-a", app)
    url = _config(platform, app, "REDIS_URL")
    assert url.startswith("redis://")
    redis.Redis.from_url(url, socket_timeout=5).set("greeting", "hello")
    info = platform.json("addons:info", "REDIS", "-a", app)
    assert info["facts"]
    platform.kill_server()
    platform.start_server()
    assert redis.Redis.from_url(url, socket_timeout=5).get("greeting") == b"hello"
    addon = info["name"]
    platform.moor("addons:destroy", addon, "-a", app, "--confirm", app)
    with pytest.raises(redis.RedisError):
        redis.Redis.from_url(url, socket_timeout=3).ping()


def _keeper(platform: LivePlatform, now: list[datetime], lines: list[str], root: Path) -> Any:
    """An add-on keeper in this process on the platform's store and cluster, with our clock."""
    from moorage.addons.postgres.cluster import Cluster
    from moorage.addons.postgres.provider import PostgresProvider
    from moorage.server.background.addonkeeper import AddonKeeper
    from moorage.server.platform import load_secret
    from moorage.server.store.db import Store

    store = Store(
        f"sqlite:///{platform.data / 'state.db'}", load_secret(platform.data / "secret.key")
    )
    port = int(platform.env["MOORAGE_POSTGRES_PORT"])
    cluster = Cluster(platform.data / "postgres", port, ["127.0.0.1"])
    providers: dict[str, Any] = {"postgresql": PostgresProvider(cluster, "127.0.0.1")}
    return AddonKeeper(
        store,
        providers,
        None,  # type: ignore[arg-type]  # rotations are not ticked here
        lambda app, proc, msg: lines.append(msg),
        root,
        clock=lambda: now[0],
    )


def _schedule(platform: LivePlatform, app: str) -> datetime:
    at = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
    platform.moor("pg:backups:schedule", "-a", app, "--at", f"{at} UTC", "--keep", "5")
    sched = platform.json("addons:info", "DATABASE", "-a", app)["moorage"]["backup_schedule"]
    return next_due(sched, datetime.fromisoformat(sched["since"]))


def test_a_scheduled_backup_fires_at_its_time(platform: LivePlatform, actors: str) -> None:
    due = _schedule(platform, actors)
    now, lines = [due - timedelta(minutes=1)], []
    keeper = _keeper(platform, now, lines, platform.data / "backups")
    assert keeper.tick_schedules() == []
    now[0] = due + timedelta(seconds=1)
    started = keeper.tick_schedules()
    assert len(started) == 1
    keeper._worker.shutdown(wait=True)
    assert keeper.tick_schedules() == []  # fired once for that day
    backup = platform.json("pg:backups:info", started[0], "-a", actors)
    assert (backup["trigger"], backup["status"], backup["verified"]) == (
        "scheduled",
        "completed",
        "verified",
    )
    assert any(f"Backup {started[0]}" in x and "completed" in x for x in lines)
    platform.moor("pg:backups:unschedule", "-a", actors)


def test_a_scheduled_backup_that_cannot_run_is_not_silent(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    due = _schedule(platform, actors)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    now, lines = [due + timedelta(seconds=1)], []
    keeper = _keeper(platform, now, lines, tmp_path)
    keeper.root = blocked  # the backup volume is unusable
    [label] = keeper.tick_schedules()
    keeper._worker.shutdown(wait=True)
    backup = platform.json("pg:backups:info", label, "-a", actors)
    assert (backup["trigger"], backup["status"]) == ("scheduled", "failed")
    assert backup["detail"]
    assert any(f"Backup {label}" in x and "failed" in x for x in lines)
    platform.moor("pg:backups:unschedule", "-a", actors)


def test_addon_servers_come_back_with_their_data(platform: LivePlatform, actors: str) -> None:
    """The database server stopped and a redis-server killed: both restart with their data."""
    platform.wait_for(actors, "Meryl Streep")
    app = platform.create_app("kept")
    platform.moor("addons:create", "redis", "-a", app)
    url = _config(platform, app, "REDIS_URL")
    redis.Redis.from_url(url, socket_timeout=5).set("kept", "yes")
    [pidfile] = (platform.data / "redis").glob("*/redis.pid")
    os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
    stop_cluster(platform.data / "postgres" / "data")
    platform.wait_for(actors, "Meryl Streep", timeout=60)  # the supervisor restarted it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            assert redis.Redis.from_url(url, socket_timeout=2).get("kept") == b"yes"
            break
        except redis.ConnectionError:
            time.sleep(0.5)
    else:
        raise AssertionError("the killed redis-server was not restarted within 30 s")


def test_pg_psql_is_interactive_through_a_pseudo_terminal(
    platform: LivePlatform, actors: str
) -> None:
    code, output = in_pty(
        platform, "pg:psql", "-a", actors, send=b"SELECT 40 + 2 AS answer;\n\\q\n", after=b"=>"
    )
    assert code == 0, output
    assert "answer" in output and "42" in output


def test_restore_from_a_file_and_a_url_and_delete(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    platform.wait_for(actors, "Meryl Streep")
    before = _psql(platform, actors, CHECKSUM)
    backup = platform.json("pg:backups:capture", "-a", actors)
    dump = tmp_path / "actors.dump"
    platform.moor("pg:backups:download", backup["id"], "-a", actors, "-o", str(dump))
    _psql(platform, actors, "DELETE FROM actors")
    platform.moor("pg:backups:restore", str(dump), "-a", actors, "--confirm", actors)
    assert _psql(platform, actors, CHECKSUM) == before
    _psql(platform, actors, "DELETE FROM actors")
    server = http.server.ThreadingHTTPServer(
        (OUTSIDE, 0),
        functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{OUTSIDE}:{server.server_address[1]}/actors.dump"
        platform.moor("pg:backups:restore", url, "-a", actors, "--confirm", actors)
    finally:
        server.shutdown()
        server.server_close()
    assert _psql(platform, actors, CHECKSUM) == before
    platform.moor("pg:backups:delete", backup["id"], "-a", actors, "--confirm", actors)
    assert backup["id"] not in [b["id"] for b in platform.json("pg:backups", "-a", actors)]
