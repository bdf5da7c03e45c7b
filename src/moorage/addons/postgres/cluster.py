"""The platform's managed PostgreSQL cluster: Debian binaries, our own data dir and port.

The server process runs as the ``postgres`` system user and keeps running when
``moor server`` dies; :meth:`Cluster.ensure_running` adopts it or starts it.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import psycopg

from moorage.errors import ComponentFailed

OS_USER = "postgres"
DOCKER_POOLS = ("172.16.0.0/12", "192.168.0.0/16")
"""Docker's default address pools: networks made before the platform's own pool use them."""


_STARTING: dict[str, threading.Lock] = {}


def find_bin_dir() -> Path:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if not dirs:
        raise ComponentFailed("PostgreSQL is not installed: run `apt-get install postgresql`.")
    return Path(dirs[-1])


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *argv]


class Cluster:
    """One PostgreSQL cluster under ``root`` listening on ``listen`` (host list) and ``port``."""

    def __init__(
        self,
        root: Path,
        port: int,
        listen: list[str],
        dyno_networks: Sequence[str] = (),
        settings: dict[str, str] | None = None,
    ) -> None:
        """``dyno_networks``: where dynos connect from besides Docker's default pools (the
        platform's subnet pool); ``settings``: more postgresql.conf lines (a plan's memory,
        the WAL archive), replacing ours of the same name."""
        self.root = root
        self.dyno_networks = [*DOCKER_POOLS, *dyno_networks]
        self.data = root / "data"
        self.sockets = root / "run"
        self.port = port
        self.listen = listen
        self.settings = dict(settings or {})
        self.start_timeout = 60  # seconds; a restore replaying much WAL needs more

    def _run(self, argv: list[str], what: str) -> None:
        proc = subprocess.run(_as_postgres(argv), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log = self.root / "postgres.log"
            raise ComponentFailed(
                f"PostgreSQL {what} failed: {proc.stderr.strip() or proc.stdout.strip()} "
                f"(see {log})"
            )

    def init_dirs(self) -> pwd.struct_passwd:
        """The cluster's directory and socket directory, owned by ``postgres``, 0700."""
        pw = pwd.getpwnam(OS_USER)
        for d in (self.root, self.sockets):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            d.chmod(0o700)
        return pw

    def init(self) -> None:
        """initdb once, then (re)write our settings and pg_hba every time."""
        pw = self.init_dirs()
        if not (self.data / "PG_VERSION").exists():
            bindir = find_bin_dir()
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ],
                "initdb",
            )
        conf = {
            "listen_addresses": ",".join(self.listen),
            "port": str(self.port),
            "unix_socket_directories": str(self.sockets),
            "password_encryption": "scram-sha-256",
            "max_connections": "200",
            **self.settings,
        }
        (self.data / "moorage.conf").write_text(
            "".join(f"{k} = '{v.replace(chr(39), chr(39) * 2)}'\n" for k, v in conf.items())
        )
        main = self.data / "postgresql.conf"
        if "include_if_exists = 'moorage.conf'" not in main.read_text():
            with main.open("a") as fh:
                fh.write("\ninclude_if_exists = 'moorage.conf'\n")
        hba = (
            "local all postgres trust\n"
            "local replication postgres trust\n"
            "host all postgres 0.0.0.0/0 reject\n"
            "host samerole all 127.0.0.1/32 scram-sha-256\n"
        ) + "".join(f"host samerole all {net} scram-sha-256\n" for net in self.dyno_networks)
        (self.data / "pg_hba.conf").write_text(hba)
        for f in ("moorage.conf", "pg_hba.conf"):
            os.chown(self.data / f, pw.pw_uid, pw.pw_gid)

    def running(self) -> bool:
        try:
            with self.connect():
                return True
        except ComponentFailed:
            return False

    def ensure_running(self) -> bool:
        """Start the cluster unless it answers; True when it had to be started. One start
        at a time per data directory: the supervisor and the add-on keeper both look after
        the shared cluster, and both would see it down and start it, one over the other."""
        with _STARTING.setdefault(str(self.data), threading.Lock()):
            if self.running():
                return False
            self._start()
            return True

    def _start(self) -> None:
        self.init()
        bindir = find_bin_dir()
        self._run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                str(self.start_timeout),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "postgres.log"),
                "-o",
                "-c config_file=" + str(self.data / "postgresql.conf"),
            ],
            "start",
        )

    def refresh(self) -> None:
        """Start the cluster, or give a running one our current settings and pg_hba."""
        if not self.ensure_running():
            self.init()
            with self.connect() as conn:
                conn.execute("SELECT pg_reload_conf()")

    def stop(self) -> None:
        self._run(
            [str(find_bin_dir() / "pg_ctl"), "stop", "-m", "fast", "-D", str(self.data)], "stop"
        )

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                host=str(self.sockets),
                port=self.port,
                user="postgres",
                dbname=dbname,
                autocommit=True,
                connect_timeout=5,
            )
        except psycopg.Error as exc:
            raise ComponentFailed(f"The platform's PostgreSQL does not answer: {exc}") from exc


def new_password() -> str:
    return secrets.token_urlsafe(24)
