"""The platform's own parts killed with SIGKILL: nginx (the router), Docker Distribution (the
registry) and the managed PostgreSQL. Each comes back by itself; apps reconnect and keep
their data; the state store (when on PostgreSQL) works again."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy.exc

from moorage.server.platform import prepare_store
from moorage.server.services import apps, auth
from moorage.settings import Settings
from tests.faults import record
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its children (a master process and its workers); return once
    they are gone."""
    victims = [pid, *_children(pid)]
    for victim in victims:  # the master first: it would replace a killed worker at once
        os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(v) for v in victims):
        assert time.monotonic() < deadline, f"{victims} survived SIGKILL"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _recovery(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check`` holds (polled every 0.1 s)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except (httpx.HTTPError, psycopg.Error, sqlalchemy.exc.DBAPIError, OSError):
            pass  # not back yet (a database still starting up refuses or drops connections)
        time.sleep(0.1)
    raise AssertionError(f"not back within {timeout} s")


def _serves(platform: LivePlatform, app: str) -> Callable[[], bool]:
    return lambda: platform.get(app).status_code == 200 and "Meryl Streep" in platform.get(app).text


def test_router_killed_comes_back(platform: LivePlatform, actors: str) -> None:
    platform.wait_for(actors, "Meryl Streep")
    pid = int((platform.data / "router" / "nginx.pid").read_text())
    _kill_tree(pid)
    seconds = _recovery(_serves(platform, actors), timeout=30)
    new_pid = int((platform.data / "router" / "nginx.pid").read_text())
    assert new_pid != pid
    record(
        "router (nginx) killed with SIGKILL",
        tried="master and workers killed once",
        failures=0,
        recovery=f"serving again after {seconds:.1f} s (restarted by the reconciler)",
        command="pytest tests/faults/test_components.py -k router",
    )


def test_registry_killed_comes_back_and_takes_pushes(platform: LivePlatform, actors: str) -> None:
    pidfile = platform.data / "registry" / "registry.pid"
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGKILL)

    def answers() -> bool:
        return httpx.get(f"http://{platform.registry}/v2/", timeout=2).status_code == 401

    seconds = _recovery(answers, timeout=30)
    assert int(pidfile.read_text()) != pid
    pushed = platform.moor("container:push", "web", "-a", actors, cwd=_actors_dir())
    assert "pushed" in pushed.stdout
    record(
        "registry (Docker Distribution) killed with SIGKILL",
        tried="killed once, then a push",
        failures=0,
        recovery=f"answering again after {seconds:.1f} s (restarted by the supervisor); "
        "the push after it succeeded",
        command="pytest tests/faults/test_components.py -k registry",
    )


def _actors_dir() -> Path:
    from tests.livefixtures import ACTORS

    return ACTORS


def _actor_count(platform: LivePlatform, app: str) -> str:
    out = platform.moor("pg:psql", "-a", app, "-c", "SELECT count(*) FROM actors").stdout
    return out.split()[2] if len(out.split()) > 2 else out


def _drop_state_database(admin: dict[str, Any], *, strict: bool, timeout: float = 60) -> None:
    """Drop the test's state database once PostgreSQL takes connections again. When the test
    already failed (``strict`` false), a PostgreSQL that never came back must not replace that
    failure: the database goes with the platform's data dir at teardown anyway."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dbname="postgres", connect_timeout=5, **admin) as conn:
                conn.execute("DROP DATABASE IF EXISTS moorage_fault_state WITH (FORCE)")
            return
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                if strict:
                    raise
                return
            time.sleep(0.5)


def test_postgres_killed_apps_reconnect_and_keep_data(platform: LivePlatform, actors: str) -> None:
    platform.wait_for(actors, "Meryl Streep")
    before = _actor_count(platform, actors)
    sockets = platform.data / "postgres" / "run"
    port = platform.env["MOORAGE_POSTGRES_PORT"]
    admin = {"host": str(sockets), "port": port, "user": "postgres", "autocommit": True}
    with psycopg.connect(dbname="postgres", **admin) as conn:  # type: ignore[arg-type]
        conn.execute("DROP DATABASE IF EXISTS moorage_fault_state")
        conn.execute("CREATE DATABASE moorage_fault_state")
    url = f"postgresql+psycopg://postgres@/moorage_fault_state?host={sockets}&port={port}"
    store = prepare_store(
        Settings.from_env({"MOORAGE_DATA_DIR": str(platform.data), "MOORAGE_DATABASE_URL": url})
    )
    passed = False
    try:
        with store.session() as s:
            user = auth.ensure_user(s, "fault@example.test")
            apps.create(s, user, "fault-state")
        postmaster = int(
            (platform.data / "postgres" / "data" / "postmaster.pid").read_text().split()[0]
        )
        _kill_tree(postmaster)
        app_seconds = _recovery(_serves(platform, actors), timeout=60)

        def store_works() -> bool:
            with store.session() as s:
                return (
                    apps.get(s, auth.ensure_user(s, "fault@example.test"), "fault-state")
                    is not None
                )

        store_seconds = _recovery(store_works, timeout=30)
        assert _actor_count(platform, actors) == before
        passed = True
    finally:
        store.engine.dispose()
        _drop_state_database(admin, strict=passed)
    record(
        "managed PostgreSQL killed with SIGKILL",
        tried="postmaster and backends killed once; app, add-on data and state store checked",
        failures=0,
        recovery=f"app serving from its database after {app_seconds:.1f} s, state store "
        f"after {store_seconds:.1f} s more; {before} actors before and after",
        command="pytest tests/faults/test_components.py -k postgres",
    )
