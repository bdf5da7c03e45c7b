"""PgBouncer in front of a ``postgresql`` add-on against a real PostgreSQL and pgbouncer.

The module starts its own cluster (a temporary data dir, a free port of
tests.pgscratch.SCRATCH_PORTS) and its poolers take ports in 31400-31449; the platform's own
cluster is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from moorage.addons.postgres.cluster import Cluster
from moorage.addons.postgres.pooler import Pooler, Poolers
from moorage.addons.postgres.provider import PostgresProvider
from moorage.errors import ComponentFailed
from tests.pgscratch import scratch_cluster

pytestmark = pytest.mark.integration

PORTS = range(31400, 31450)
POOL_SIZE = 5
WAIT = 5  # query_wait_timeout: how long a retired role's lingering client waits for its error


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("pgbouncer is not installed")
    with scratch_cluster("moorage-pgpooler-") as c:
        yield c


@pytest.fixture
def poolers() -> Iterator[Poolers]:
    root = Path(tempfile.mkdtemp(prefix="moorage-pgpooler-root-"))
    root.chmod(0o711)
    p = Poolers(
        root / "poolers", ["127.0.0.1"], PORTS, pool_size=POOL_SIZE, query_wait_timeout=WAIT
    )
    yield p
    for d in (root / "poolers").iterdir() if (root / "poolers").exists() else []:
        if d.is_dir():
            p.detach(d.name)
    shutil.rmtree(root, ignore_errors=True)


class Pooled:
    """An add-on database made by the provider, with a pooler in front of it."""

    def __init__(self, cluster: Cluster, poolers: Poolers, resource: str) -> None:
        self.cluster, self.poolers, self.resource = cluster, poolers, resource
        self.provider = PostgresProvider(cluster, "127.0.0.1")
        self.url = self.provider.provision(resource)
        self.port = poolers.attach(resource, cluster, resource, self.logins)
        self.pooler = Pooler(poolers.root, resource, poolers.listen)

    @property
    def logins(self) -> list[str]:
        return [f"{self.resource}_a", f"{self.resource}_b"]

    def via_pool(self, url: str) -> str:
        parts = urlsplit(url)
        return parts._replace(
            netloc=f"{parts.username}:{parts.password}@127.0.0.1:{self.port}"
        ).geturl()

    def connect(self, url: str) -> psycopg.Connection[tuple[object, ...]]:
        # transaction pooling: no server-side prepared statements (PgBouncer 1.18)
        return psycopg.connect(
            self.via_pool(url), autocommit=True, connect_timeout=5, prepare_threshold=None
        )

    def refresh(self) -> list[str]:
        return self.poolers.refresh_users(self.resource, self.cluster, self.logins)


@pytest.fixture
def pooled(cluster: Cluster, poolers: Poolers) -> Iterator[Pooled]:
    p = Pooled(cluster, poolers, f"pool_{os.getpid()}")
    yield p
    poolers.detach(p.resource)
    p.provider.deprovision(p.resource)


def _refused(pooled: Pooled, url: str) -> str:
    with pytest.raises(psycopg.OperationalError) as info:
        pooled.connect(url).close()
    return str(info.value)


def test_queries_run_through_the_pool_as_the_addon_role(pooled: Pooled) -> None:
    with pooled.connect(pooled.url) as conn:
        row = conn.execute("SELECT session_user, current_user, current_database()").fetchone()
        assert row == (f"{pooled.resource}_a", pooled.resource, pooled.resource)
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 100) i")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (100,)
    with pooled.cluster.connect(pooled.resource) as admin:  # made by the owner role
        owner = admin.execute("SELECT tableowner FROM pg_tables WHERE tablename = 't'").fetchone()
    assert owner == (pooled.resource,)


def test_only_the_addon_database_is_exposed(pooled: Pooled) -> None:
    parts = urlsplit(pooled.url)
    for db in ("postgres", "pgbouncer", "template1"):
        _refused(pooled, parts._replace(path=f"/{db}").geturl())


def test_wrong_password_is_refused(pooled: Pooled) -> None:
    parts = urlsplit(pooled.url)
    bad = parts._replace(netloc=f"{parts.username}:wrong@{parts.hostname}:{parts.port}").geturl()
    assert "SASL authentication failed" in _refused(pooled, bad)
    unknown = parts._replace(netloc=f"postgres:x@{parts.hostname}:{parts.port}").geturl()
    _refused(pooled, unknown)


def test_transaction_mode_serves_50_clients_with_5_server_connections(pooled: Pooled) -> None:
    """50 clients connected at once each run transactions while all stay connected: in
    session mode clients 6-50 would wait for a server connection forever (the barrier)."""
    clients = 50
    connected = threading.Barrier(clients, timeout=60)
    done = threading.Barrier(clients, timeout=60)
    backends: set[int] = set()
    errors: list[BaseException] = []
    peak = [0]

    def client() -> None:
        try:
            with pooled.connect(pooled.url) as conn:
                connected.wait()
                for _ in range(3):
                    with conn.transaction():
                        conn.execute("SELECT pg_sleep(0.02)")
                        row = conn.execute("SELECT pg_backend_pid()").fetchone()
                        assert row is not None
                        backends.add(int(str(row[0])))
                done.wait()
        except BaseException as exc:
            errors.append(exc)

    def watch(stop: threading.Event) -> None:
        with pooled.cluster.connect() as admin:
            while not stop.is_set():
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                    (pooled.resource,),
                ).fetchone()
                assert row is not None
                peak[0] = max(peak[0], int(str(row[0])))
                time.sleep(0.01)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,))
    watcher.start()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    watcher.join()
    assert errors == []
    assert 1 <= len(backends) <= POOL_SIZE
    assert 1 <= peak[0] <= POOL_SIZE
    config = {row["key"]: row["value"] for row in pooled.pooler.admin("SHOW CONFIG")}
    assert config["pool_mode"] == "transaction"
    assert config["default_pool_size"] == str(POOL_SIZE)
    assert config["auth_type"] == "scram-sha-256"
    assert config["admin_users"] == config["stats_users"] == ""


def test_rotation_and_retire_work_through_the_pool(pooled: Pooled) -> None:
    old = pooled.url
    new = pooled.provider.rotate(pooled.resource, old)
    assert urlsplit(new).username == f"{pooled.resource}_b"
    _refused(pooled, new)  # not in the pool's user list until it is refreshed
    assert pooled.refresh() == []
    for url in (old, new):
        with pooled.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (pooled.resource,)

    pooled.provider.retire(pooled.resource, new)
    assert pooled.refresh() == []
    assert "SASL authentication failed" in _refused(pooled, old)
    with pooled.connect(new) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    # back to the first login role with a new password: the pool must not keep its old keys
    newer = pooled.provider.rotate(pooled.resource, new)
    assert urlsplit(newer).username == f"{pooled.resource}_a"
    assert pooled.refresh() == []
    with pooled.connect(newer) as conn:
        assert conn.execute("SELECT session_user").fetchone() == (f"{pooled.resource}_a",)
    _refused(pooled, old)
    pooled.provider.retire(pooled.resource, newer)
    pooled.refresh()
    _refused(pooled, new)
    with pooled.connect(newer) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_retired_roles_lingering_client_can_run_nothing(pooled: Pooled) -> None:
    old = pooled.url
    held = pooled.connect(old)  # connected through the pool before the retire
    assert held.execute("SELECT 1").fetchone() == (1,)
    new = pooled.provider.rotate(pooled.resource, old)
    pooled.refresh()
    pooled.provider.retire(pooled.resource, new)  # ends its server session
    assert pooled.refresh() == [f"{pooled.resource}_a"]  # still connected to pgbouncer
    begin = time.monotonic()
    with pytest.raises(psycopg.Error, match=r"query_wait_timeout|server login has been failing"):
        held.execute("SELECT 1")  # pgbouncer cannot log its role in any more
    assert time.monotonic() - begin < WAIT + 5
    held.close()
    assert pooled.refresh() == []
    with pooled.connect(new) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # that failed server login makes pgbouncer refuse the role for server_login_retry (3 s):
    # a rotation back to it works through the pool once that has passed
    newer = pooled.provider.rotate(pooled.resource, new)
    pooled.refresh()
    deadline = time.monotonic() + 5
    while True:
        try:
            with pooled.connect(newer) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            break
        except psycopg.Error as exc:
            assert "server_login_retry" in str(exc) and time.monotonic() < deadline
            time.sleep(0.2)


def test_a_killed_pooler_comes_back_on_its_port(pooled: Pooled) -> None:
    pooler = pooled.pooler
    pid = pooler.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pooler.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pooler.pid() is None
    _refused(pooled, pooled.url)
    pooled.poolers.ensure_running([pooled.resource])
    assert pooler.pid() not in (None, pid)
    assert pooled.poolers.port(pooled.resource) == pooled.port
    with pooled.connect(pooled.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_new_manager_adopts_the_running_pooler(pooled: Pooled) -> None:
    pid = pooled.pooler.pid()
    with pooled.connect(pooled.url) as conn:  # a client connection survives the adoption
        again = Poolers(pooled.poolers.root, ["127.0.0.1"], PORTS, pool_size=POOL_SIZE)
        again.ensure_running([pooled.resource])
        assert again.port(pooled.resource) == pooled.port
        assert again.attach(pooled.resource, pooled.cluster, pooled.resource, pooled.logins) == (
            pooled.port
        )
        assert Pooler(again.root, pooled.resource, again.listen).pid() == pid
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_detach_stops_and_removes_the_pooler(pooled: Pooled) -> None:
    pooler = pooled.pooler
    pid = pooler.pid()
    assert pid is not None
    pooled.poolers.detach(pooled.resource)
    assert not pooler.dir.exists()
    assert pooled.poolers.port(pooled.resource) is None
    assert (
        not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    _refused(pooled, pooled.url)
    pooled.poolers.detach(pooled.resource)  # nothing to do
    with pytest.raises(ComponentFailed, match="no connection pooler"):
        pooled.refresh()
    with pytest.raises(ComponentFailed, match="attach it again"):
        pooled.poolers.ensure_running([pooled.resource])


def test_poolers_get_their_own_ports_and_run_out_clearly(
    cluster: Cluster, poolers: Poolers
) -> None:
    first = Pooled(cluster, poolers, f"pone_{os.getpid()}")
    second = Pooled(cluster, poolers, f"ptwo_{os.getpid()}")
    try:
        assert first.port != second.port
        assert {first.port, second.port} <= set(PORTS)
        with first.connect(first.url), second.connect(second.url):
            pass
        # one pooler's credentials do not open the other's database
        _refused(second, first.url)
        full = Poolers(poolers.root, ["127.0.0.1"], range(first.port, first.port + 1))
        with pytest.raises(ComponentFailed, match=f"{first.port}-{first.port}"):
            full.attach(f"pthree_{os.getpid()}", cluster, first.resource, first.logins)
    finally:
        for p in (first, second):
            poolers.detach(p.resource)
            p.provider.deprovision(p.resource)
