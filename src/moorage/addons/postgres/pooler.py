"""PgBouncer in front of a ``postgresql`` add-on's database: one pgbouncer per pooled add-on.

The directory ``root/<resource>/`` belongs to the ``postgres`` system user (mode 0700) and
holds everything the pooler needs, so it can be started again with no other state:
``pgbouncer.ini`` (database, target, listen addresses, port), ``userlist.txt`` (the SCRAM
verifiers of the add-on's login roles, copied from ``pg_authid``), ``port`` (the port
allocated to it), the pid file, the log and ``run/`` (the unix socket of its admin console,
reachable only by the ``postgres`` user). pgbouncer daemonizes into its own session, so it
outlives ``moor server``; :meth:`Poolers.ensure_running` adopts it or starts it again.

Clients authenticate with SCRAM against the copied verifiers; pgbouncer then logs into
PostgreSQL as the same role with the keys the client's proof revealed (SCRAM pass-through,
PgBouncer >= 1.14), so no password is stored anywhere but in PostgreSQL itself. That needs
the verifier in ``userlist.txt`` to be the one PostgreSQL has: after a password changes,
:meth:`Poolers.refresh_users` must run before the new password works through the pool.

pgbouncer reaches the database over TCP on ``127.0.0.1`` (the cluster's pg_hba admits login
roles only from there, not over its unix socket).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

import psycopg

from moorage.addons.ports import allocate
from moorage.addons.postgres.cluster import Cluster, find_bin_dir
from moorage.addons.rootdir import locked
from moorage.errors import ComponentFailed, InvalidParams

OS_USER = "postgres"
SERVER_HOST = "127.0.0.1"
"""Where pgbouncer reaches the target cluster (pg_hba: login roles over TCP from loopback)."""
MAX_CLIENT_CONN = 500
DEFAULT_POOL_SIZE = 20
QUERY_WAIT_TIMEOUT = 120
"""Seconds a client waits for a server connection before it is disconnected; also how long
a client of a retired role that stayed connected waits before it gets its error."""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")
SCRAM_RE = re.compile(r"^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")


def _check_name(what: str, name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise InvalidParams(
            f"{name!r} is not a valid {what}: use 3 to 63 lowercase letters, digits and "
            "underscores, starting with a letter."
        )


def _check_listen(listen: list[str]) -> None:
    if not listen:
        raise InvalidParams("The connection pooler needs at least one listen address.")
    for addr in listen:
        if not re.fullmatch(r"[0-9A-Za-z.:*-]+", addr):
            raise InvalidParams(f"{addr!r} is not a listen address for the connection pooler.")


def render_ini(
    *,
    directory: Path,
    database: str,
    server_port: int,
    listen: list[str],
    port: int,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_client_conn: int = MAX_CLIENT_CONN,
    query_wait_timeout: int = QUERY_WAIT_TIMEOUT,
) -> str:
    """The ``pgbouncer.ini`` of a pooler in ``directory``: only ``database`` is exposed (the
    same name on PostgreSQL at ``SERVER_HOST:server_port``), transaction pooling, SCRAM
    against ``userlist.txt``, no admin or stats users (the admin console is reachable only
    over the unix socket in ``directory/run`` by the ``postgres`` OS user).

    Raises :class:`InvalidParams` for a name or address that cannot be written safely."""
    _check_name("database name", database)
    _check_listen(listen)
    text = str(directory)
    if not text.startswith("/") or any(c in text for c in " \t\n\r;#%\"'\\"):
        raise InvalidParams(f"Cannot use {text!r} for a connection pooler: choose a plainer path.")
    return (
        "; Written by Moorage; edits are lost.\n"
        "[databases]\n"
        f"{database} = host={SERVER_HOST} port={server_port} dbname={database}\n"
        "\n[pgbouncer]\n"
        f"listen_addr = {','.join(listen)}\n"
        f"listen_port = {port}\n"
        f"unix_socket_dir = {directory / 'run'}\n"
        "unix_socket_mode = 0700\n"
        f"pidfile = {directory / 'pgbouncer.pid'}\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
        "auth_type = scram-sha-256\n"
        f"auth_file = {directory / 'userlist.txt'}\n"
        "admin_users =\n"
        "stats_users =\n"
        "pool_mode = transaction\n"
        f"max_client_conn = {max_client_conn}\n"
        f"default_pool_size = {pool_size}\n"
        f"query_wait_timeout = {query_wait_timeout}\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        "server_login_retry = 3\n"
        "log_connections = 0\n"
        "log_disconnections = 0\n"
    )


def render_userlist(verifiers: dict[str, str]) -> str:
    """The ``userlist.txt`` lines (``"role" "SCRAM-SHA-256$..."``) for ``verifiers``.

    Raises :class:`InvalidParams` for a role name or verifier that is not a plain one."""
    lines = []
    for role, verifier in sorted(verifiers.items()):
        _check_name("role name", role)
        if not SCRAM_RE.fullmatch(verifier):
            raise InvalidParams(f"Role {role} has no SCRAM-SHA-256 password to pool with.")
        lines.append(f'"{role}" "{verifier}"\n')
    return "".join(lines)


def read_verifiers(target: Cluster, logins: list[str]) -> dict[str, str]:
    """The SCRAM verifiers in ``pg_authid`` of those ``logins`` that can log in now (LOGIN,
    a SCRAM password, not expired). Raises :class:`ComponentFailed` if the cluster does not
    answer."""
    for role in logins:
        _check_name("role name", role)
    try:
        with target.connect() as conn:
            rows = conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s) "
                "AND rolcanlogin AND rolpassword LIKE 'SCRAM-SHA-256$%%' "
                "AND (rolvaliduntil IS NULL OR rolvaliduntil > now())",
                (list(logins),),
            ).fetchall()
    except psycopg.Error as exc:
        raise ComponentFailed(
            "Could not read the login roles for the connection pooler: "
            f"{exc.diag.message_primary or type(exc).__name__}"
        ) from exc
    return {str(name): str(verifier) for name, verifier in rows}


def _write(path: Path, text: str, owner: pwd.struct_passwd) -> None:
    """Atomically replace ``path`` with ``text`` (mode 0600, owned by ``owner``)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chown(tmp, owner.pw_uid, owner.pw_gid)
    os.replace(tmp, path)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        package = "pgbouncer" if name == "pgbouncer" else "util-linux"
        raise ComponentFailed(f"{name} is not installed: run `apt-get install {package}`.")
    return found


def _alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Pooler:
    """The pgbouncer of add-on ``resource`` under ``root``, listening on ``listen``."""

    def __init__(self, root: Path, resource: str, listen: list[str]) -> None:
        _check_name("add-on name", resource)
        self.resource = resource
        self.listen = listen
        self.dir = root / resource
        self.ini = self.dir / "pgbouncer.ini"
        self.userlist = self.dir / "userlist.txt"
        self.pidfile = self.dir / "pgbouncer.pid"
        self.log = self.dir / "pgbouncer.log"
        self.sockets = self.dir / "run"
        self.port_file = self.dir / "port"

    @property
    def port(self) -> int | None:
        """The port allocated to this pooler, None before :meth:`create`."""
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _fail_io(self, what: str, exc: OSError) -> ComponentFailed:
        return ComponentFailed(
            f"Could not {what} of the connection pooler of {self.resource} in {self.dir}: "
            f"{exc.strerror}. Check that the platform runs as root and the disk is not full."
        )

    def create(self, port: int) -> None:
        """Make the directory (postgres-owned, 0700) and record ``port`` unless one is
        recorded already. Raises :class:`ComponentFailed` when it cannot be written."""
        owner = pwd.getpwnam(OS_USER)
        try:
            for d in (self.dir, self.sockets):
                d.mkdir(mode=0o700, exist_ok=True)
                os.chown(d, owner.pw_uid, owner.pw_gid)
                d.chmod(0o700)
            if self.port is None:
                _write(self.port_file, f"{port}\n", owner)
        except OSError as exc:
            raise self._fail_io("create the directory", exc) from exc

    def configure(self, target: Cluster, database: str, limits: dict[str, int]) -> bool:
        """(Re)write ``pgbouncer.ini`` for ``database`` on ``target`` with ``limits`` (the
        keyword arguments of :func:`render_ini`: ``pool_size``, ...); True if it changed.
        Raises :class:`ComponentFailed` before :meth:`create` or when it cannot be written."""
        port = self.port
        if port is None:
            raise ComponentFailed(f"The connection pooler of {self.resource} has no port.")
        text = render_ini(
            directory=self.dir,
            database=database,
            server_port=target.port,
            listen=self.listen,
            port=port,
            **limits,
        )
        try:
            if self.ini.exists() and self.ini.read_text() == text:
                return False
            _write(self.ini, text, pwd.getpwnam(OS_USER))
        except OSError as exc:
            raise self._fail_io("write the configuration", exc) from exc
        return True

    def write_users(self, verifiers: dict[str, str]) -> None:
        """Replace ``userlist.txt`` with ``verifiers`` (takes effect at :meth:`reload`).
        Raises :class:`ComponentFailed` when it cannot be written."""
        text = render_userlist(verifiers)
        try:
            _write(self.userlist, text, pwd.getpwnam(OS_USER))
        except OSError as exc:
            raise self._fail_io("write the user list", exc) from exc

    def pid(self) -> int | None:
        """The PID of this pooler's live pgbouncer, or None.

        The pid file counts only if it names a live ``pgbouncer`` started with this
        pooler's ``pgbouncer.ini``, so a stale pid file (after a reboot or ``kill -9``)
        or a reused PID is ignored."""
        try:
            pid = int(self.pidfile.read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if (
            _alive(pid)
            and Path(argv[0].decode(errors="replace")).name == "pgbouncer"
            and str(self.ini).encode() in argv
        ):
            return pid
        return None

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            return "(no log)"
        problems = [ln for ln in lines if " ERROR " in ln or " FATAL " in ln or " WARNING " in ln]
        return " | ".join((problems or lines)[-3:]) or "(empty log)"

    def _answers(self, port: int) -> bool:
        host = self.listen[0]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}.get(host, host)
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    def _start(self) -> None:
        """Start pgbouncer as the postgres user, daemonized in its own session."""
        try:
            self.pidfile.unlink(missing_ok=True)  # stale: pgbouncer refuses a live-looking one
        except OSError as exc:
            raise self._fail_io("remove the stale pid file", exc) from exc
        pgbouncer = _binary("pgbouncer")
        argv = [_binary("runuser"), "-u", OS_USER, "--", pgbouncer, "-d", "-q"]
        proc = subprocess.run(
            [*argv, str(self.ini)],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.dir,
            start_new_session=True,
        )
        if proc.returncode != 0:
            raise ComponentFailed(
                f"pgbouncer for add-on {self.resource} did not start: "
                f"{(proc.stderr or proc.stdout).strip() or self._log_tail()} (see {self.log})."
            )

    def ensure_running(self) -> bool:
        """Adopt the live pgbouncer or start it from the files on disk; True when it had
        to be started. Returns once it accepts connections on its port.

        Raises :class:`ComponentFailed` when the pooler has no directory or configuration,
        pgbouncer is not installed, exits at start or does not answer in START_TIMEOUT."""
        port = self.port
        if port is None or not self.ini.exists() or not self.userlist.exists():
            raise ComponentFailed(
                f"The connection pooler of {self.resource} has no configuration in {self.dir}: "
                "attach it again."
            )
        started = self.pid() is None
        if started:
            self._start()
        begin = time.monotonic()
        while time.monotonic() - begin < START_TIMEOUT:
            if self._answers(port) and self.pid() is not None:
                return started
            if started and time.monotonic() - begin > 2 and self.pid() is None:
                raise ComponentFailed(
                    f"pgbouncer for add-on {self.resource} exited at start: {self._log_tail()}. "
                    f"Fix that (see {self.log}) and restart moor server."
                )
            time.sleep(0.05)
        raise ComponentFailed(
            f"pgbouncer for add-on {self.resource} (pid {self.pid()}) did not answer on port "
            f"{port} within {START_TIMEOUT:.0f}s. See {self.log}; kill it to let it be restarted."
        )

    def admin(self, command: str) -> list[dict[str, str]]:
        """Run ``command`` (``RELOAD``, ``SHOW CLIENTS``, ...) on pgbouncer's admin console
        as the postgres OS user over the unix socket; returns the rows it answers.

        Raises :class:`ComponentFailed` when pgbouncer does not answer or refuses."""
        psql = str(find_bin_dir() / "psql")
        argv = [_binary("runuser"), "-u", OS_USER, "--", psql, "-X", "-A", "-q", "-F", "\t"]
        argv += ["-P", "footer=off"]
        argv += ["-h", str(self.sockets), "-p", str(self.port), "-U", "pgbouncer"]
        proc = subprocess.run(
            [*argv, "-d", "pgbouncer", "-c", command],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"},
        )
        if proc.returncode != 0:
            raise ComponentFailed(
                f"pgbouncer for add-on {self.resource} refused {command.split()[0]}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}. Restart moor server "
                f"(ensure_running); see {self.log}."
            )
        lines = proc.stdout.splitlines()
        if not lines:
            return []
        header = lines[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]

    def reload(self) -> None:
        """Make the running pgbouncer re-read its configuration and user list (``RELOAD``
        on the admin console: done when this returns). Raises :class:`ComponentFailed`."""
        self.admin("RELOAD")

    def stop(self) -> None:
        """Stop pgbouncer by its PID (SIGTERM, SIGKILL after STOP_TIMEOUT) and wait until it
        has exited. Does nothing when it is not running."""
        pid = self.pid()
        if pid is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _alive(pid):
                    return
                time.sleep(0.05)
        raise ComponentFailed(
            f"pgbouncer {pid} of add-on {self.resource} survived SIGKILL; check `ps {pid}`."
        )

    def remove(self) -> None:
        """Stop pgbouncer and delete the directory; nothing if it is already gone."""
        if not self.dir.exists():
            return
        self.stop()
        try:
            shutil.rmtree(self.dir)
        except OSError as exc:
            raise self._fail_io("remove the directory", exc) from exc


class Poolers:
    """The connection poolers under ``root`` (one directory each).

    Each pgbouncer listens on ``listen`` (loopback plus the Docker bridge gateway in
    production) and on a port of ``ports`` that stays with it until :meth:`detach`; it
    allows ``max_client_conn`` clients and ``pool_size`` server connections per login role;
    a client that waits ``query_wait_timeout`` seconds for a server connection is dropped.
    Every method is idempotent and may be called from a fresh object (after a restart of
    ``moor server``): everything is read from the directories."""

    def __init__(
        self,
        root: Path,
        listen: list[str],
        ports: range,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_client_conn: int = MAX_CLIENT_CONN,
        query_wait_timeout: int = QUERY_WAIT_TIMEOUT,
    ) -> None:
        _check_listen(listen)
        if min(pool_size, max_client_conn, query_wait_timeout) < 1 or not ports:
            raise InvalidParams("The connection pooler needs ports and positive sizes.")
        self.root = root
        self.listen = listen
        self.ports = ports
        self.limits = {
            "pool_size": pool_size,
            "max_client_conn": max_client_conn,
            "query_wait_timeout": query_wait_timeout,
        }

    def _pooler(self, resource: str) -> Pooler:
        return Pooler(self.root, resource, self.listen)

    def _lock(self) -> AbstractContextManager[None]:
        return locked(self.root, "connection poolers")

    def _allocate(self) -> int:
        """The lowest port of ``ports`` that no pooler records and nothing listens on."""
        taken = [
            self._pooler(d.name).port or 0
            for d in self.root.iterdir()
            if d.is_dir() and NAME_RE.fullmatch(d.name)
        ]
        return allocate(self.ports, taken, self.listen, "a connection pooler")

    def port(self, resource: str) -> int | None:
        """The port of ``resource``'s pooler, None when it has none (not attached)."""
        return self._pooler(resource).port

    def attach(self, resource: str, target: Cluster, database: str, logins: list[str]) -> int:
        """Put a pgbouncer in front of ``database`` on ``target`` for ``logins`` and return
        its port. Again on an attached resource: keeps the port, rewrites the configuration
        and user list, starts it if it is stopped and reloads it if it runs (a new target
        applies at once; new listen addresses only when pgbouncer next starts).

        Raises :class:`InvalidParams` for a bad name, :class:`ComponentFailed` when none of
        ``logins`` can log in with a SCRAM password, no port is free, the cluster does not
        answer or pgbouncer cannot be started."""
        pooler = self._pooler(resource)
        verifiers = read_verifiers(target, logins)
        if not verifiers:
            raise ComponentFailed(
                f"None of the login roles of {resource} ({', '.join(logins)}) can log in with "
                "a SCRAM-SHA-256 password, so nothing could connect through a pooler."
            )
        with self._lock():
            if pooler.port is None:
                pooler.create(self._allocate())
            pooler.configure(target, database, self.limits)
            pooler.write_users(verifiers)
            if not pooler.ensure_running():
                pooler.reload()
        port = pooler.port
        assert port is not None
        return port

    def refresh_users(self, resource: str, target: Cluster, logins: list[str]) -> list[str]:
        """Copy the verifiers of ``logins`` from ``target``'s pg_authid again and reload the
        pooler, so a rotated password works through it when this returns and a retired
        (NOLOGIN or password-less) role is refused. Starts a stopped pooler.

        Returns the roles no longer admitted that still have clients connected to the pooler
        (PgBouncer 1.18 cannot drop one role's clients): once ``retire`` has ended their
        server sessions they can run nothing: each is disconnected at its next query, after
        ``query_wait_timeout`` (its role cannot log into PostgreSQL any more).

        Raises :class:`ComponentFailed` when the pooler is not attached, the cluster does
        not answer or pgbouncer cannot be reloaded."""
        pooler = self._pooler(resource)
        verifiers = read_verifiers(target, logins)
        with self._lock():
            if pooler.port is None:
                raise ComponentFailed(f"Add-on {resource} has no connection pooler attached.")
            pooler.write_users(verifiers)
            if pooler.ensure_running():
                return []
            pooler.reload()
            clients = pooler.admin("SHOW CLIENTS")
        return sorted({c.get("user", "") for c in clients} - set(verifiers) - {"pgbouncer", ""})

    def detach(self, resource: str) -> None:
        """Stop the pooler (by PID, waiting for it to exit) and delete its directory; its
        clients are disconnected. Does nothing for a resource without a pooler.

        Raises :class:`ComponentFailed` when pgbouncer cannot be stopped or removed."""
        pooler = self._pooler(resource)
        if not pooler.dir.exists():
            return
        with self._lock():
            pooler.remove()

    def ensure_running(self, resources: list[str]) -> None:
        """Adopt the live poolers of ``resources`` and start the stopped ones from their
        files (after a reboot or a crash); every resource is tried, then one
        :class:`ComponentFailed` names all that failed."""
        poolers = [self._pooler(r) for r in resources]
        failures: list[str] = []
        with self._lock():
            for pooler in poolers:
                try:
                    pooler.ensure_running()
                except ComponentFailed as exc:
                    failures.append(exc.message)
        if failures:
            raise ComponentFailed(" ".join(failures))
