"""Faults of dedicated PostgreSQL plans (issue 21): a full WAL archive volume, and
``kill -9`` of ``moor server`` in the middle of a rollback and of a promotion.

* The archive's volume fills up: the add-on's stanza archive directory gets a small tmpfs
  of its own (bind-mounted over it, with a filler leaving a couple of MB), so that
  ``pgbackrest archive-push`` fails with a real ENOSPC. The app's log gets an ALERT line,
  ``pg:info`` says so, the database keeps taking reads and writes (its WAL waits in
  ``pg_wal``), and once room is back the archive catches up: a "works again" line, and a
  fork made then holds every row written while the archive was failing.
* ``kill -9`` while ``--rollback`` restores into a new cluster: the CLI says the server
  went away, the half-made cluster is swept at restart, no add-on is recorded, the source
  serves unchanged, and the same command then succeeds.
* ``kill -9`` during ``pg:promote``: afterwards either the promotion is done, or running
  ``pg:promote`` again finishes it (with a working WAL archive); the old primary's data is
  untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.faults import record
from tests.integration.test_pg_plans import _cluster_dir, _config, _facts, _rows, _run
from tests.livefixtures import MOOR, LivePlatform

pytestmark = pytest.mark.integration
TMPFS_MB = 24
WHEN = {"promoted": "left recovery", "base-backup": "ran its first base backup"}
LEFT_MB = 2  # room left on the archive's volume: less than one pushed WAL segment of data


@pytest.fixture
def app(platform: LivePlatform, request: pytest.FixtureRequest) -> Iterator[str]:
    """An app of the test's own, destroyed after it: the platform's few dedicated ports
    (MOORAGE_POSTGRES_PORTS) are free again for the next test."""
    name = platform.create_app("pgfault")
    yield name
    platform.moor("apps:destroy", "-a", name, "--confirm", name, check=False)
    platform.apps.discard(name)


def _wait(
    what: str,
    check: Callable[[], object],
    timeout: float,
    every: float = 0.5,
    why: Callable[[], str] = lambda: "",
) -> float:
    """Seconds until ``check()`` is truthy (AssertionError after ``timeout``, with ``why()``)."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (psycopg.Error, AssertionError):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s. {why()}")
        time.sleep(every)


def _addon(platform: LivePlatform, app: str, attachment: str) -> dict[str, object]:
    for addon in platform.json("addons", "-a", app):
        if f"{attachment}_URL" in addon["config_vars"]:
            return dict(addon)
    raise AssertionError(f"{app} has no {attachment}_URL")


def _logs(platform: LivePlatform, app: str) -> str:
    return platform.moor("logs", "-a", app, "-n", "200").stdout


def _pids_using(path: Path) -> dict[int, str]:
    """Processes whose command line names ``path`` (pid -> command line)."""
    found = {}
    needle = str(path)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            found[int(proc.name)] = cmd.strip()
    return found


def _used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _umount(target: Path) -> None:
    deadline = time.monotonic() + 30
    while subprocess.run(["umount", str(target)], check=False).returncode != 0:
        if time.monotonic() > deadline:
            subprocess.run(["umount", "-l", str(target)], check=True)
            return
        time.sleep(0.5)


@contextmanager
def _small_volume(archive: Path, scratch: Path) -> Iterator[Path]:
    """``archive`` (a stanza's WAL archive) on a tmpfs of ``TMPFS_MB`` holding its content
    and a filler that leaves ``LEFT_MB``; yields the filler. Afterwards what was archived
    meanwhile is copied back into the real directory and both mounts go."""
    st = archive.stat()
    scratch.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o",
         f"size={TMPFS_MB}m,uid={st.st_uid},gid={st.st_gid},mode={st.st_mode & 0o7777:o}",
         "tmpfs", str(scratch)],
        check=True,
    )  # fmt: skip
    bound = False
    try:
        subprocess.run(["cp", "-a", f"{archive}/.", str(scratch)], check=True)
        filler = scratch / "filler"
        room = os.statvfs(scratch).f_bavail * os.statvfs(scratch).f_frsize
        assert room > (LEFT_MB + 1) << 20, f"the archive already takes {_used(scratch)} bytes"
        with filler.open("wb") as fh:
            fh.write(b"\0" * (room - (LEFT_MB << 20)))
        subprocess.run(["mount", "--bind", str(scratch), str(archive)], check=True)
        bound = True
        yield filler
    finally:
        if bound:
            _umount(archive)
        (scratch / "filler").unlink(missing_ok=True)
        # the segments pushed onto the small volume belong to the real archive
        subprocess.run(["cp", "-a", f"{scratch}/.", str(archive)], check=False)
        _umount(scratch)


def test_archive_volume_full(platform: LivePlatform, app: str) -> None:
    platform.moor("addons:create", "postgresql:standard-0", "-a", app)
    url = _config(platform, app, "DATABASE_URL")
    addon = _addon(platform, app, "DATABASE")
    name, stanza = str(addon["name"]), str(addon["provider_id"])
    _run(url, "CREATE TABLE events (id serial PRIMARY KEY, era text, body text)")
    _run(
        url,
        "INSERT INTO events (era, body) SELECT 'before', md5(i::text) "
        "FROM generate_series(1, 1000) i",
    )
    segment = _switch_wal(platform, url)
    _wait(
        "the WAL before the fault reaches the archive",
        lambda: _archived(platform, url) >= segment,
        60,
    )
    archive = platform.data / "pgbackrest" / "repo" / "archive" / stanza
    assert archive.is_dir(), list(archive.parent.iterdir())
    with _small_volume(archive, platform.data / "fault-archive-volume") as filler:
        started = time.monotonic()
        # ~40 MB of rows that lz4 cannot squeeze below the room left: full segments to push
        _run(
            url,
            "INSERT INTO events (era, body) SELECT 'during', (SELECT string_agg("
            "md5(random()::text || i || g), '') FROM generate_series(1, 20) g) "
            "FROM generate_series(1, 60000) i",
        )
        _switch_wal(platform, url)
        alert_s = _wait(
            "the ALERT line in the app's log",
            lambda: f"ALERT: WAL archive of {name} is FAILING since" in _logs(platform, app),
            60,
        )
        facts = _facts(platform, app, "DATABASE")
        assert facts["Continuous Protection"] == "ALERT", facts
        assert facts["WAL Archive"].startswith("FAILING since"), facts
        postgres_log = (_cluster_dir(platform, url) / "postgres.log").read_text(errors="replace")
        assert "No space left on device" in postgres_log, postgres_log[-3000:]
        # the database keeps serving: reads and writes while its archive fails
        _run(
            url,
            "INSERT INTO events (era, body) SELECT 'failing', md5(i::text) "
            "FROM generate_series(1, 500) i",
        )
        counts = dict(_rows(url, "SELECT era, count(*) FROM events GROUP BY era"))
        assert counts == {"before": 1000, "during": 60000, "failing": 500}, counts
        assert _facts(platform, app, "DATABASE")["Continuous Protection"] == "ALERT"
        failing_s = time.monotonic() - started

        # room comes back (the volume grows); the next WAL segment wakes the archiver
        subprocess.run(
            ["mount", "-o", "remount,size=512m", str(platform.data / "fault-archive-volume")],
            check=True,
        )
        _run(url, "INSERT INTO events (era, body) VALUES ('after', 'room again')")
        _switch_wal(platform, url)
        recovered_s = _wait(
            "the 'works again' line in the app's log",
            lambda: f"WAL archive of {name} works again: ok" in _logs(platform, app),
            90,
        )
        facts = _facts(platform, app, "DATABASE")
        assert facts["Continuous Protection"] == "On", facts
        assert facts["WAL Archive"].startswith("ok ("), facts
        expected = {"before": 1000, "during": 60000, "failing": 500, "after": 1}
        assert dict(_rows(url, "SELECT era, count(*) FROM events GROUP BY era")) == expected
        # nothing written while the archive failed is missing from it: a fork (base backup +
        # every archived segment since) holds all of it
        platform.moor(
            "addons:create",
            "postgresql:standard-0",
            "--fork",
            "DATABASE",
            "--as",
            "FORK",
            "-a",
            app,
        )
        fork = _config(platform, app, "FORK_URL")
        assert dict(_rows(fork, "SELECT era, count(*) FROM events GROUP BY era")) == expected
        assert filler.exists()
    record(
        "WAL archive volume full (dedicated PostgreSQL)",
        tried=f"archive-push onto a {TMPFS_MB} MB tmpfs with {LEFT_MB} MB free (ENOSPC), "
        "60,561 rows written meanwhile",
        failures=0,
        recovery=f"ALERT in the app's log {alert_s:.1f} s after the full segments were closed; "
        f"reads and writes served for {failing_s:.0f} s of failure; 'works again' "
        f"{recovered_s:.1f} s after room came back; a fork then held every row",
        command="pytest tests/faults/test_pg_faults.py -k archive_volume_full",
    )


def _host_admin(platform: LivePlatform, url: str) -> str:
    """The superuser's libpq string for the dedicated cluster behind ``url`` (its socket)."""
    return (
        f"host={_cluster_dir(platform, url) / 'run'} port={urlsplit(url).port} "
        "user=postgres dbname=postgres"
    )


def _switch_wal(platform: LivePlatform, url: str) -> str:
    """Close the current WAL segment (the superuser's right): it is ready for the archive."""
    with psycopg.connect(_host_admin(platform, url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    return str(row[0]) if row else ""


def _archived(platform: LivePlatform, url: str) -> str:
    with psycopg.connect(_host_admin(platform, url), autocommit=True) as conn:
        row = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
    return str(row[0] or "")[:24] if row else ""


def _clusters(platform: LivePlatform) -> set[str]:
    root = platform.data / "postgres-clusters"
    return {d.name for d in root.iterdir() if d.is_dir()}


def _kill_orphans(pids: dict[int, str]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_kill9_during_a_rollback(platform: LivePlatform, app: str) -> None:
    platform.moor("addons:create", "postgresql:standard-0", "-a", app)
    url = _config(platform, app, "DATABASE_URL")
    _run(url, "CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    _run(url, "INSERT INTO ledger SELECT i, md5(i::text) FROM generate_series(1, 2000) i")
    time.sleep(6)  # '5 seconds' ago is then after the first base backup: in the window
    before = _clusters(platform)
    command = [
        MOOR, "addons:create", "postgresql:standard-0", "--rollback", "DATABASE",
        "--by", "5 seconds", "--as", "ROLLED", "-a", app,
    ]  # fmt: skip
    cli = subprocess.Popen(
        command, env=platform.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    root = platform.data / "postgres-clusters"
    made: list[Path] = []

    def half_made() -> bool:
        made.extend(
            root / d for d in _clusters(platform) - before if (root / d / "creating").exists()
        )
        return bool(made)

    _wait("a new cluster dir marked 'creating'", half_made, 180, every=0.05)
    half = made[0]
    time.sleep(0.3)  # into the restore
    at_kill = _pids_using(half)
    platform.kill_server()
    killed = time.monotonic()
    out, err = cli.communicate(timeout=120)
    orphans = _pids_using(half)
    try:
        assert cli.returncode != 0, out
        assert "Traceback" not in err and err.strip(), err
        platform.start_server()
        restarted = time.monotonic() - killed
        swept_s = _wait("the half-made cluster swept", lambda: not half.exists(), 60)
        left = _pids_using(half)
    finally:
        _kill_orphans(_pids_using(half))
    addons = platform.json("addons", "-a", app)
    assert len(addons) == 1 and addons[0]["config_vars"] == ["DATABASE_URL"], addons
    assert "ROLLED_URL" not in platform.moor("config", "-a", app).stdout
    assert _rows(url, "SELECT count(*), sum(id) FROM ledger") == [(2000, 2001000)]
    _run(url, "INSERT INTO ledger VALUES (2001, 'after the kill')")  # still takes writes
    again = platform.moor(*command[1:], check=False)
    assert again.returncode == 0, again.stderr
    rolled = _config(platform, app, "ROLLED_URL")
    assert urlsplit(rolled).port != urlsplit(url).port
    assert _rows(rolled, "SELECT count(*) FROM ledger WHERE id <= 2000") == [(2000,)]
    assert _clusters(platform) - before and all(
        not (root / d / "creating").exists() for d in _clusters(platform)
    )
    record(
        "kill -9 of moor server during a PostgreSQL rollback",
        tried="kill -9 while addons:create --rollback restored into a new cluster; "
        f"processes on the half-made cluster then: {len(at_kill)}, left running: {len(orphans)}",
        failures=0,
        recovery=f"CLI: {err.strip().splitlines()[-1][:120]!r}; API back {restarted:.1f} s "
        f"after the kill, half-made cluster swept {swept_s:.1f} s later "
        f"({len(left)} processes on it after the sweep); the source served unchanged; "
        "the same command then succeeded",
        command="pytest tests/faults/test_pg_faults.py -k rollback",
    )
    print("at kill:", at_kill, "\norphans:", orphans, "\nafter sweep:", left, "\nCLI:", err)


def _in_recovery(admin: str) -> bool:
    with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


def _backup_running(stanza: str) -> bool:
    return any(
        f"--stanza={stanza}" in cmd and cmd.rstrip().endswith("backup")
        for cmd in _pids_using(Path("pgbackrest")).values()
    )


@pytest.mark.parametrize("moment", ["promoted", "base-backup"])
def test_kill9_during_a_promote(platform: LivePlatform, app: str, moment: str) -> None:
    platform.moor("addons:create", "postgresql:standard-0", "-a", app)
    old = _config(platform, app, "DATABASE_URL")
    _run(old, "CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
    _run(old, "INSERT INTO accounts SELECT i, 100 FROM generate_series(1, 3000) i")
    made = platform.json(
        "addons:create", "postgresql:standard-0", "--follow", "DATABASE", "-a", app
    )
    follower, var = str(made["name"]), str(made["config_vars"][0])
    furl = _config(platform, app, var)
    _wait("the follower replays the rows",
          lambda: _rows(furl, "SELECT count(*) FROM accounts") == [(3000,)], 60)  # fmt: skip
    admin = _host_admin(platform, furl)
    stanza = _cluster_dir(platform, furl).name
    cli = subprocess.Popen(
        [MOOR, "pg:promote", follower, "-a", app],
        env=platform.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    if moment == "promoted":
        _wait("the follower leaves recovery", lambda: not _in_recovery(admin), 120, every=0.05)
    else:
        _wait("the promoted follower's base backup", lambda: _backup_running(stanza), 180, 0.05)
    platform.kill_server()
    killed = time.monotonic()
    out, err = cli.communicate(timeout=120)
    orphans = {p: c for p, c in _pids_using(Path("pgbackrest")).items() if stanza in c}
    platform.start_server()
    restarted = time.monotonic() - killed
    assert "Traceback" not in err, err
    current = _config(platform, app, "DATABASE_URL")
    if urlsplit(current).port == urlsplit(old).port:
        state = "not done at restart"
        assert cli.returncode != 0, out
        rerun_started = time.monotonic()
        # an orphaned pgbackrest of the killed server may hold the stanza's lock a while
        rerun = platform.moor("pg:promote", follower, "-a", app, check=False)
        assert rerun.returncode == 0, rerun.stderr
        state += f"; pg:promote again finished it in {time.monotonic() - rerun_started:.1f} s"
    else:
        state = "done"
    new = _config(platform, app, "DATABASE_URL")
    assert urlsplit(new).port == urlsplit(furl).port, (new, furl)
    _run(new, "UPDATE accounts SET balance = balance + 1 WHERE id = 1")  # takes writes
    facts = _facts(platform, app, follower)
    assert "Following" not in facts, facts
    _wait(
        "the promoted database's WAL archive works",
        lambda: _facts(platform, app, follower)["Continuous Protection"] == "On",
        60,
        why=lambda: f"{state}; CLI: {err!r}; {_facts(platform, app, follower)}",
    )
    _wait(  # the keeper takes its first base backup once it serves
        "the promoted database's rollback window starts",
        lambda: _facts(platform, app, follower)["Rollback"].startswith("earliest from"),
        120,
        why=lambda: f"{state}; {_facts(platform, app, follower)}",
    )
    assert _rows(old, "SELECT count(*), sum(balance) FROM accounts") == [(3000, 300000)]
    names = {a["name"]: a["config_vars"] for a in platform.json("addons", "-a", app)}
    assert len(names) == 2 and set(names[follower]) == {"DATABASE_URL", var}, names
    record(
        f"kill -9 of moor server during pg:promote ({moment})",
        tried=f"kill -9 when the follower {WHEN[moment]}; "
        f"pgbackrest processes left running: {len(orphans)}",
        failures=0,
        recovery=f"API back {restarted:.1f} s after the kill; {state}; the old primary's "
        "data untouched; the new primary takes writes and archives",
        command=f"pytest tests/faults/test_pg_faults.py -k '{moment}'",
    )
    print(moment, "CLI:", cli.returncode, err, "\norphans:", orphans, "\nstate:", state)
