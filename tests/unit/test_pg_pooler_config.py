"""What the PgBouncer pooler writes to disk, without starting anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import moorage.addons.postgres.pooler as pooler_module
from moorage.addons.postgres.pooler import (
    QUERY_WAIT_TIMEOUT,
    Pooler,
    Poolers,
    render_ini,
    render_userlist,
)
from moorage.errors import ComponentFailed, InvalidParams

VERIFIER = (
    "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$"
    "U3RvcmVkS2V5U3RvcmVkS2V5U3RvcmVkS2V5U3Rv+/A=:U2VydmVyS2V5U2VydmVyS2V5U2VydmVyS2V5U2Vy/+B="
)


def _ini(**kw: object) -> dict[str, str]:
    args: dict[str, object] = {
        "directory": Path("/var/lib/moorage/pgbouncer/db_one"),
        "database": "db_one",
        "server_port": 5433,
        "listen": ["127.0.0.1", "172.17.0.1"],
        "port": 6500,
    }
    args.update(kw)
    text = render_ini(**args)  # type: ignore[arg-type]
    settings: dict[str, str] = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and not line.startswith(";"):
            assert key.strip() not in settings
            settings[key.strip()] = value.strip()
    return settings


def test_the_ini_exposes_one_database_in_transaction_mode_with_scram() -> None:
    ini = _ini()
    assert ini["db_one"] == "host=127.0.0.1 port=5433 dbname=db_one"
    assert [k for k, v in ini.items() if "dbname=" in v] == ["db_one"]
    assert ini["listen_addr"] == "127.0.0.1,172.17.0.1"
    assert ini["listen_port"] == "6500"
    assert ini["pool_mode"] == "transaction"
    assert ini["auth_type"] == "scram-sha-256"
    assert ini["auth_file"] == "/var/lib/moorage/pgbouncer/db_one/userlist.txt"
    assert ini["unix_socket_dir"] == "/var/lib/moorage/pgbouncer/db_one/run"
    assert ini["pidfile"] == "/var/lib/moorage/pgbouncer/db_one/pgbouncer.pid"
    assert ini["admin_users"] == ini["stats_users"] == ""
    assert ini["ignore_startup_parameters"] == "extra_float_digits,options"
    assert (ini["max_client_conn"], ini["default_pool_size"]) == ("500", "20")
    assert ini["query_wait_timeout"] == str(QUERY_WAIT_TIMEOUT)


def test_the_ini_takes_its_limits() -> None:
    ini = _ini(pool_size=5, max_client_conn=80, query_wait_timeout=7)
    assert (ini["default_pool_size"], ini["max_client_conn"], ini["query_wait_timeout"]) == (
        "5",
        "80",
        "7",
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"database": "Db"},
        {"database": "db one"},
        {"database": "db\nadmin_users = x"},
        {"listen": []},
        {"listen": ["127.0.0.1,0.0.0.0"]},
        {"listen": ["127.0.0.1\nauth_type = trust"]},
        {"directory": Path("relative/dir")},
        {"directory": Path("/tmp/a b")},
        {"directory": Path("/tmp/x;y")},
    ],
)
def test_the_ini_refuses_what_it_cannot_write_safely(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidParams):
        _ini(**bad)


def test_the_userlist_quotes_each_scram_verifier_in_name_order() -> None:
    text = render_userlist({"db_one_b": VERIFIER, "db_one_a": VERIFIER})
    assert text == f'"db_one_a" "{VERIFIER}"\n"db_one_b" "{VERIFIER}"\n'
    assert render_userlist({}) == ""


@pytest.mark.parametrize(
    ("role", "verifier"),
    [
        ("db_one_a", "md5" + "0" * 32),
        ("db_one_a", "plain password"),
        ("db_one_a", VERIFIER + '" "x'),
        ('db"one', VERIFIER),
        ("Db_one", VERIFIER),
    ],
)
def test_the_userlist_refuses_anything_but_plain_roles_and_scram(role: str, verifier: str) -> None:
    with pytest.raises(InvalidParams) as info:
        render_userlist({role: verifier})
    assert "SCRAM-SHA-256$" not in info.value.message


def test_a_pooler_without_files_has_no_port_and_no_process(tmp_path: Path) -> None:
    pooler = Pooler(tmp_path, "db_one", ["127.0.0.1"])
    assert pooler.port is None
    assert pooler.pid() is None
    pooler.dir.mkdir()
    pooler.pidfile.write_text(f"{os.getpid()}\n")  # a live process that is not its pgbouncer
    assert pooler.pid() is None
    pooler.port_file.write_text("6500\n")
    assert pooler.port == 6500
    assert Poolers(tmp_path, ["127.0.0.1"], range(6500, 6510)).port("db_one") == 6500


def test_names_and_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidParams, match="add-on name"):
        Pooler(tmp_path, "../etc", ["127.0.0.1"])
    with pytest.raises(InvalidParams, match="listen address"):
        Poolers(tmp_path, [], range(6500, 6510))
    with pytest.raises(InvalidParams):
        Poolers(tmp_path, ["127.0.0.1"], range(6500, 6500))
    with pytest.raises(InvalidParams):
        Poolers(tmp_path, ["127.0.0.1"], range(6500, 6510), pool_size=0)


def test_a_missing_pgbouncer_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pooler_module.shutil, "which", lambda name, path=None: None)
    pooler = Pooler(tmp_path, "db_one", ["127.0.0.1"])
    pooler.dir.mkdir()
    for f in (pooler.port_file, pooler.ini, pooler.userlist):
        f.write_text("6500\n")
    with pytest.raises(ComponentFailed, match=r"apt-get install pgbouncer"):
        pooler.ensure_running()
