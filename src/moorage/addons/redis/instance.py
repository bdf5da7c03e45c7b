"""One Debian ``redis-server`` per ``redis`` add-on resource: its own directory, port and ACLs.

The directory ``root/<resource>/`` belongs to the ``redis`` system user (mode 0700) and holds
everything the instance needs: ``redis.conf`` (written by us), ``users.acl`` (the ACL file,
kept by ``ACL SAVE``), ``port`` (the port allocated to it), ``admin.password`` (root-only),
the pidfile, the log and the append-only data. The server daemonizes into its own session, so
it outlives ``moor server``; :meth:`Instance.ensure_running` adopts it or starts it again.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from moorage.errors import ComponentFailed

OS_USER = "redis"
ADMIN_USER = "moorage"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

T = TypeVar("T")


class AdminRefused(ComponentFailed):
    """The instance answers but refuses the platform's admin credentials."""


def new_password() -> str:
    return secrets.token_urlsafe(32)


def scrub(text: str, hidden: Iterable[str]) -> str:
    """``text`` with every secret in ``hidden`` replaced by ``***``."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "***")
    return text.rstrip(".")


def _write(path: Path, text: str, mode: int, owner: pwd.struct_passwd | None = None) -> None:
    """Atomically replace ``path`` with ``text`` (root-owned unless ``owner`` is given)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    if owner is not None:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
    os.replace(tmp, path)


def _quote(path: Path) -> str:
    text = str(path)
    if any(c in text for c in '"\\\n\r'):
        raise ComponentFailed(f"Cannot use {text!r} as a redis path: choose a plainer directory.")
    return f'"{text}"'


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ComponentFailed(f"{name} is not installed: run `apt-get install redis-server`.")
    return found


class Instance:
    """The redis-server of add-on ``resource`` under ``root``, bound to ``listen``."""

    def __init__(self, root: Path, resource: str, listen: list[str]) -> None:
        self.resource = resource
        self.dir = root / resource
        self.listen = listen
        self.conf = self.dir / "redis.conf"
        self.aclfile = self.dir / "users.acl"
        self.pidfile = self.dir / "redis.pid"
        self.log = self.dir / "redis.log"
        self.port_file = self.dir / "port"
        self.admin_file = self.dir / "admin.password"

    @property
    def port(self) -> int | None:
        """The port allocated to this instance, None before :meth:`create`."""
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def create(self, port: int) -> None:
        """Make the directory (redis-owned, 0700), the admin password and the port record.

        Keeps an existing admin password; records ``port`` only if none is recorded yet."""
        owner = pwd.getpwnam(OS_USER)
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.dir.chmod(0o700)
            if not self.admin_file.exists():
                _write(self.admin_file, new_password(), 0o600)
            if self.port is None:
                _write(self.port_file, f"{port}\n", 0o644)
        except OSError as exc:
            raise ComponentFailed(
                f"Could not create {self.dir} for redis add-on {self.resource}: {exc.strerror}. "
                "Check that the platform runs as root and the disk is not full."
            ) from exc

    def admin_password(self) -> str:
        try:
            return self.admin_file.read_text().strip()
        except OSError as exc:
            raise ComponentFailed(
                f"Redis add-on {self.resource} has no admin password in {self.admin_file}: "
                "its directory is damaged; deprovision and provision it again."
            ) from exc

    def _prepare(self, port: int) -> None:
        """(Re)write redis.conf and the admin/default lines of the ACL file (server stopped)."""
        d = self.dir
        conf = (
            "# Written by Moorage on every start; edits are lost.\n"
            f"bind {' '.join(self.listen)}\nport {port}\nprotected-mode yes\n"
            f"daemonize yes\npidfile {_quote(self.pidfile)}\nlogfile {_quote(self.log)}\n"
            f"dir {_quote(d)}\naclfile {_quote(self.aclfile)}\n"
            'appendonly yes\nappendfsync everysec\nsave ""\ntcp-keepalive 300\n'
            "enable-protected-configs no\nenable-debug-command no\nenable-module-command no\n"
        )
        digest = hashlib.sha256(self.admin_password().encode()).hexdigest()
        acl = [
            "user default off resetchannels -@all",
            f"user {ADMIN_USER} on #{digest} ~* &* +@all",
        ]
        owner = pwd.getpwnam(OS_USER)
        ours = ("user default ", f"user {ADMIN_USER} ")
        try:
            if self.aclfile.exists():
                for line in self.aclfile.read_text().splitlines():
                    if line.startswith("user ") and not line.startswith(ours):
                        acl.append(line)
            _write(self.aclfile, "\n".join(acl) + "\n", 0o600, owner)
            _write(self.conf, conf, 0o644)
        except OSError as exc:
            raise ComponentFailed(
                f"Could not write the configuration of redis add-on {self.resource} in {d}: "
                f"{exc.strerror}. Check permissions and free disk space."
            ) from exc

    def pid(self) -> int | None:
        """The PID of this instance's live redis-server (pidfile, else a /proc scan), or None.

        A process counts only if it is a ``redis-server`` whose working directory is this
        instance's directory (redis chdirs to ``dir``), so a stale pidfile is ignored."""
        try:
            candidates: list[str] = [self.pidfile.read_text().strip()]
        except OSError:
            candidates = []
        candidates += [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
        want = str(self.dir.resolve())
        for cand in candidates:
            try:
                if (
                    os.readlink(f"/proc/{cand}/cwd") == want
                    and Path(f"/proc/{cand}/comm").read_text().strip() == "redis-server"
                ):
                    return int(cand)
            except (OSError, ValueError):
                continue
        return None

    def client(self, username: str, password: str) -> redis.Redis:
        """A client for this instance over its first listen address; fails fast (no retry)."""
        host = self.listen[0].lstrip("-")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}.get(host, host)
        return redis.Redis(
            host=host,
            port=self.port or 0,
            username=username,
            password=password,
            socket_timeout=10,
            socket_connect_timeout=5,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        )

    def admin_call(
        self, what: str, fn: Callable[[redis.Redis], T], hidden: Iterable[str] = ()
    ) -> T:
        """Run ``fn`` on an admin connection; redis errors become :class:`ComponentFailed`."""
        hidden = [*hidden, self.admin_password()]
        name = f"Redis add-on {self.resource}"
        try:
            with self.client(ADMIN_USER, hidden[-1]) as conn:
                return fn(conn)
        except redis.AuthenticationError:
            raise AdminRefused(
                f"{name} refused the platform's admin credentials while trying to {what}: "
                f"{self.aclfile} was changed by hand. Stop its redis-server and run "
                "ensure_running (restart moor server) to restore the admin user."
            ) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ComponentFailed(
                f"{name} (port {self.port}) does not answer while trying to {what}: "
                f"{scrub(str(exc), hidden)}. Restart moor server (ensure_running); "
                f"see {self.log}."
            ) from None
        except redis.RedisError as exc:
            raise ComponentFailed(
                f"{name} refused to {what}: {scrub(str(exc), hidden)}. See {self.log}."
            ) from None

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            return "(no log)"
        warnings = [line.split(" # ", 1)[-1] for line in lines if " # " in line]
        return " | ".join((warnings or lines)[-3:])

    def _wait_ready(self, started: bool) -> None:
        """Return once the admin user's PING succeeds; ComponentFailed after START_TIMEOUT."""
        begin = time.monotonic()
        last = "no answer"
        while time.monotonic() - begin < START_TIMEOUT:
            try:
                self.admin_call("answer PING", lambda conn: conn.ping())
                return
            except AdminRefused:
                raise
            except ComponentFailed as exc:
                last = exc.message
            if started and time.monotonic() - begin > 2 and self.pid() is None:
                raise ComponentFailed(
                    f"redis-server for add-on {self.resource} exited at start: "
                    f"{self._log_tail()}. Fix that (see {self.log}) and restart moor server."
                )
            time.sleep(0.1)
        raise ComponentFailed(
            f"redis-server for add-on {self.resource} (pid {self.pid()}) did not answer within "
            f"{START_TIMEOUT:.0f}s: {last}. See {self.log}; kill it to let it be restarted."
        )

    def ensure_running(self) -> bool:
        """Adopt the live redis-server or start it; True when it had to be started.

        Returns only once the server answers the admin user's PING."""
        port = self.port
        if port is None or not self.admin_file.exists():
            raise ComponentFailed(
                f"Redis add-on {self.resource} has no instance in {self.dir}: its data is gone. "
                "Deprovision it and provision it again."
            )
        started = self.pid() is None
        if started:
            self._prepare(port)
            argv = [_binary("runuser"), "-u", OS_USER, "--", _binary("redis-server")]
            argv.append(str(self.conf))
            proc = subprocess.run(
                argv, capture_output=True, text=True, check=False, start_new_session=True
            )
            if proc.returncode != 0:
                raise ComponentFailed(
                    f"redis-server for add-on {self.resource} did not start: "
                    f"{(proc.stderr or proc.stdout).strip() or self._log_tail()} (see {self.log})."
                )
        self._wait_ready(started)
        return started

    def stop(self) -> None:
        """Stop the redis-server by its PID (SIGTERM, SIGKILL after STOP_TIMEOUT) and wait
        until it has exited. Does nothing when it is not running."""
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
                if self.pid() != pid:
                    return
                time.sleep(0.05)
        raise ComponentFailed(
            f"redis-server {pid} of add-on {self.resource} survived SIGKILL; check `ps {pid}`."
        )

    def remove(self) -> None:
        """Stop the server and delete the directory with its data; nothing if already gone."""
        if not self.dir.exists():
            return
        self.stop()
        try:
            shutil.rmtree(self.dir)
        except OSError as exc:
            raise ComponentFailed(
                f"Could not remove {self.dir} of redis add-on {self.resource}: {exc.strerror}. "
                "Remove it by hand once nothing uses it."
            ) from exc
