"""The ``redis`` add-on provider on the real Debian redis-server (run as root).

Each test gets its own temporary root and deprovisions every instance it created; the only
processes it kills are the redis-servers it started, by their PIDs.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from moorage.addons.redis.instance import Instance
from moorage.addons.redis.provider import RESOURCE_RE, RedisProvider
from moorage.errors import ComponentFailed, InvalidParams

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("redis-server") is None,
        reason="needs root and Debian's redis-server",
    ),
]

# Disjoint from the live test platforms' ports (tests/livefixtures.py PORTS: 10000-19999)
# and below the kernel's ephemeral range.
PORTS = range(25600, 25651)


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="moorage-redis-test-"))
    tmp.chmod(0o711)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def _cleanup(root: Path) -> None:
    """Deprovision every instance under ``root``; kill leftovers by their verified PIDs."""
    if not root.is_dir():
        return
    provider = RedisProvider(root, "127.0.0.1", ["127.0.0.1"], PORTS)
    for d in root.iterdir():
        if d.is_dir() and RESOURCE_RE.fullmatch(d.name):
            pid = Instance(root, d.name, ["127.0.0.1"]).pid()
            try:
                provider.deprovision(d.name)
            except ComponentFailed:
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def provider(tmp_root: Path) -> Iterator[RedisProvider]:
    prov = RedisProvider(tmp_root / "redis", "127.0.0.1", ["127.0.0.1"], PORTS)
    yield prov
    _cleanup(prov.root)


def _conn(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


def _inst(provider: RedisProvider, resource: str) -> Instance:
    return Instance(provider.root, resource, provider.listen)


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/cwd").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_provision_twice_is_idempotent_and_isolated_on_disk(provider: RedisProvider) -> None:
    url = provider.provision("cache_one")
    assert url.startswith("redis://app_a:") and url.endswith(f"@127.0.0.1:{PORTS[0]}")
    with _conn(url) as c:
        assert c.set("greeting", "ahoy")
    again = provider.provision("cache_one")
    assert again != url and again.endswith(f"@127.0.0.1:{PORTS[0]}")
    with _conn(again) as c:
        assert c.get("greeting") == "ahoy"

    root_st = provider.root.stat()
    assert (root_st.st_uid, stat.S_IMODE(root_st.st_mode)) == (0, 0o711)
    inst = _inst(provider, "cache_one")
    dir_st = inst.dir.stat()
    assert inst.dir.owner() == "redis"
    assert stat.S_IMODE(dir_st.st_mode) == 0o700
    assert stat.S_IMODE(inst.admin_file.stat().st_mode) == 0o600
    assert inst.admin_file.stat().st_uid == 0
    assert inst.port_file.read_text().strip() == str(PORTS[0])
    pid = inst.pid()
    assert pid is not None
    assert os.getsid(pid) == pid  # its own session: it outlives the platform process
    assert Path(f"/proc/{pid}").stat().st_uid == inst.dir.stat().st_uid

    facts = provider.info("cache_one")
    assert facts["version"].startswith("7.")
    assert facts["port"] == str(PORTS[0])
    assert facts["appendonly"] == "yes"
    assert facts["keys"] == "1"


def test_two_resources_are_isolated(provider: RedisProvider) -> None:
    url_a = provider.provision("cache_a")
    url_b = provider.provision("cache_b")
    port_a, port_b = (_inst(provider, r).port for r in ("cache_a", "cache_b"))
    assert port_a != port_b
    with _conn(url_a) as a, _conn(url_b) as b:
        a.set("only_in_a", "1")
        assert b.get("only_in_a") is None
    wrong = url_a.replace(f":{port_a}", f":{port_b}")
    with _conn(wrong) as c, pytest.raises(redis.AuthenticationError):
        c.ping()
    with redis.Redis(port=port_a or 0) as anonymous, pytest.raises(redis.RedisError):
        anonymous.get("only_in_a")  # the default user is disabled


def test_data_and_credentials_survive_kill_and_ensure_running(provider: RedisProvider) -> None:
    url = provider.provision("durable")
    with _conn(url) as c:
        c.set("survivor", "yes")
    inst = _inst(provider, "durable")
    pid = inst.pid()
    assert pid is not None
    provider.ensure_running(["durable"])  # adopts the running one
    assert inst.pid() == pid

    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    assert inst.pid() is None
    with _conn(url) as c, pytest.raises(redis.ConnectionError):
        c.ping()
    provider.ensure_running(["durable"])
    assert inst.pid() not in (None, pid)
    with _conn(url) as c:
        assert c.get("survivor") == "yes"
    assert provider.info("durable")["port"] == str(inst.port)


def test_rotate_then_retire(provider: RedisProvider) -> None:
    old_url = provider.provision("rotating")
    old = _conn(old_url)
    old.set("k", "v")
    new_url = provider.rotate("rotating", old_url)
    assert new_url.startswith("redis://app_b:")
    with _conn(new_url) as c:
        assert c.get("k") == "v"
    assert old.get("k") == "v"  # the current credentials keep working

    with pytest.raises(InvalidParams) as bad:
        provider.retire("rotating", new_url.replace("@", "x@"))
    assert new_url.split(":")[2].split("@")[0] not in str(bad.value)
    assert old.get("k") == "v"  # a bad keep_url changes nothing

    kept = _conn(new_url)
    assert kept.get("k") == "v"
    provider.retire("rotating", new_url)
    assert kept.get("k") == "v"  # the kept credentials' open session survives
    kept.close()
    with pytest.raises(redis.ConnectionError):
        old.get("k")  # the open session of the retired user is closed
    old.close()
    with _conn(old_url) as c, pytest.raises(redis.AuthenticationError):
        c.ping()
    with _conn(new_url) as c:
        assert c.get("k") == "v"

    third = provider.rotate("rotating", new_url)
    assert third.startswith("redis://app_a:") and third != old_url
    inst = _inst(provider, "rotating")
    assert inst.pid() is not None
    os.kill(inst.pid() or 0, signal.SIGKILL)
    _wait_gone(int(inst.pidfile.read_text()))
    provider.ensure_running(["rotating"])
    for url in (new_url, third):  # the ACL file keeps both across a restart
        with _conn(url) as c:
            assert c.get("k") == "v"


def test_apps_cannot_administer_the_server(provider: RedisProvider) -> None:
    url = provider.provision("locked")
    refused = [
        ("CONFIG", "SET", "appendonly", "no"),
        ("CONFIG", "GET", "*"),
        ("ACL", "SETUSER", "intruder", "on", ">pw", "+@all"),
        ("ACL", "LIST"),
        ("SHUTDOWN", "NOSAVE"),
        ("DEBUG", "SLEEP", "0"),
        ("MODULE", "LOAD", "/tmp/x.so"),
        ("CLIENT", "KILL", "TYPE", "normal"),
        ("REPLICAOF", "127.0.0.1", "1"),
        ("BGSAVE",),
    ]
    with _conn(url) as c:
        for cmd in refused:
            with pytest.raises(redis.ResponseError):
                c.execute_command(*cmd)
        assert c.ping()
        c.set("a", "1")
        assert c.keys("*") == ["a"]
        assert c.info()["aof_enabled"] == 1
        assert c.flushdb()
    assert provider.info("locked")["appendonly"] == "yes"


def test_deprovision_stops_and_removes_and_is_idempotent(provider: RedisProvider) -> None:
    url = provider.provision("doomed")
    inst = _inst(provider, "doomed")
    pid = inst.pid()
    assert pid is not None
    provider.deprovision("doomed")
    assert not Path(f"/proc/{pid}/cwd").exists()
    assert not inst.dir.exists()
    with _conn(url) as c, pytest.raises(redis.ConnectionError):
        c.ping()
    provider.deprovision("doomed")
    provider.deprovision("never_was")
    with pytest.raises(ComponentFailed):
        provider.ensure_running(["never_was"])


def test_ports_are_not_shared_and_run_out(tmp_root: Path) -> None:
    prov = RedisProvider(tmp_root / "small", "127.0.0.1", ["127.0.0.1"], range(25648, 25650))
    try:
        prov.provision("first")
        prov.provision("second")
        assert {_inst(prov, r).port for r in ("first", "second")} == {25648, 25649}
        with pytest.raises(ComponentFailed, match="No free port"):
            prov.provision("third")
        prov.deprovision("first")
        prov.provision("third")
        assert _inst(prov, "third").port == 25648
    finally:
        _cleanup(prov.root)


@pytest.mark.parametrize("name", ["ab", "Cache", "1cache", "../etc", "with-dash", "x" * 64])
def test_bad_resource_name(provider: RedisProvider, name: str) -> None:
    with pytest.raises(InvalidParams, match="not a valid redis add-on name"):
        provider.provision(name)
    with pytest.raises(InvalidParams):
        provider.deprovision(name)


def test_foreign_url_is_refused_without_echoing_it(provider: RedisProvider) -> None:
    provider.provision("guarded")
    for url in ("redis://someone:s3cretpw@127.0.0.1:1", "http://app_a:s3cretpw@x", "nonsense"):
        with pytest.raises(InvalidParams) as err:
            provider.rotate("guarded", url)
        assert "s3cretpw" not in str(err.value)
