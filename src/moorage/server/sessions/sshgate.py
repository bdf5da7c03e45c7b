"""``heroku ps:exec``'s SSH side: an SSH server in the platform that opens each session
inside a dyno, as ``moor ps:exec`` does (the runtime's exec), with no sshd in the image.

The CLI asks the exec manager (``server/routes/execmanager.py``) for a session with a key
pair it just made; the manager grants that public key one dyno of one app, under a random
user name, for :data:`GRANT_SECONDS`. The CLI then connects here (``tunnel_host``, port 80
by its own choice; the host key it pins is :meth:`Gateway.public_key`) as that user with that
key. Each connection may:

- run a command or a shell, with a PTY when the client asks for one (``exec``, ``shell``);
- read files of the dyno over SFTP (``ps:copy``; read-only, through the engine's archive);
- open TCP connections to the dyno's own address only (``ps:forward``, ``ps:socks``).

Keys and grants live in memory only. ``ps:socks`` opens one SSH connection per proxied TCP
connection with the same key, so a grant serves its key until it has been idle for
:data:`GRANT_SECONDS`, then it is forgotten; it opens its one dyno, another app's never.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from moorage.errors import MoorageError
from moorage.runtime.session import CHUNK, TtySession
from moorage.server.sessions.dynos import DynoSessions

with warnings.catch_warnings():  # asyncssh still imports DSA, which cryptography deprecates
    warnings.simplefilter("ignore")
    import asyncssh

log = logging.getLogger("moorage.sshgate")
GRANT_SECONDS = 60.0
CLOSE_GRACE = 0.5  # seconds an exec's channel stays open for the client's last input
LOCAL_NAMES = ("0.0.0.0", "127.0.0.1", "localhost", "::", "::1")  # the dyno itself
MAX_FILE = 256 * 2**20  # the largest file ps:copy reads
SHELL = ["sh", "-c", "command -v bash >/dev/null && exec bash || exec sh"]


@dataclass(frozen=True)
class Grant:
    app: str
    dyno: str  # web.1
    key: bytes  # the client's public key (SSH wire format)
    expires: float


class Grants:
    """One-use permissions: a user name and public key for one dyno of one app."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def grant(self, app: str, dyno: str, client_key: str) -> str:
        """The user name the client logs in as with ``client_key`` (OpenSSH public key)."""
        key = asyncssh.import_public_key(client_key).public_data
        user = "u" + secrets.token_hex(12)
        now = time.monotonic()
        with self._lock:
            self._grants = {u: g for u, g in self._grants.items() if g.expires > now}
            self._grants[user] = Grant(app, dyno, key, now + GRANT_SECONDS)
        return user

    def check(self, user: str, key: bytes) -> bool:
        with self._lock:
            grant = self._grants.get(user)
        return grant is not None and grant.key == key and grant.expires > time.monotonic()

    def use(self, user: str) -> Grant | None:
        """The grant of a logged-in user, kept alive for another :data:`GRANT_SECONDS`."""
        now = time.monotonic()
        with self._lock:
            grant = self._grants.get(user)
            if grant is None or grant.expires <= now:
                self._grants.pop(user, None)
                return None
            self._grants[user] = replace(grant, expires=now + GRANT_SECONDS)
            return grant


class Gateway:
    def __init__(self, sessions: DynoSessions, key_file: Path, address: str, port: int) -> None:
        self.sessions = sessions
        self.grants = Grants()
        self.address, self.port = address, port
        self.tunnel_host = address  # what the CLI is told to connect to
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key_file))
            key_file.chmod(0o600)
        self._key = asyncssh.read_private_key(str(key_file))

    def public_key(self) -> str:
        """The host key as the CLI pins it: ``ssh-ed25519 AAAA...``."""
        text: bytes = self._key.export_public_key("openssh")
        return " ".join(text.decode().split()[:2])

    def serve(self, stop: threading.Event) -> None:
        asyncio.run(self._serve(stop))

    async def _serve(self, stop: threading.Event) -> None:
        gateway = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self.conn = conn

            def begin_auth(self, username: str) -> bool:
                return True

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return gateway.grants.check(username, key.public_data)

            def auth_completed(self) -> None:
                grant = gateway.grants.use(self.conn.get_extra_info("username"))
                self.conn.set_extra_info(moorage_grant=grant)

            def connection_requested(
                self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
            ) -> Any:
                target = gateway._target(self.conn.get_extra_info("moorage_grant"), dest_host)
                if target is None:
                    return False
                return self.conn.forward_connection(target, dest_port)

        server = await asyncssh.create_server(
            Server,
            self.address,
            self.port,
            server_host_keys=[self._key],
            process_factory=self._process,
            encoding=None,
            sftp_factory=self._files,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        try:
            while not stop.is_set():
                await asyncio.sleep(1.0)
        finally:
            server.close()
            await server.wait_closed()

    def _files(self, chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
        grant = chan.get_extra_info("moorage_grant")
        return DynoFiles(chan, self.sessions, grant)

    def _target(self, grant: Grant | None, host: str) -> str | None:
        """Where a forwarded connection goes: the granted dyno's own address, which the
        CLI names as it is, or as 0.0.0.0/localhost (Heroku's proxy runs in the dyno)."""
        if grant is None:
            return None
        try:
            dyno = self.sessions.find_dyno(grant.app, grant.dyno)
        except MoorageError:
            return None
        if not dyno.ip or host not in (dyno.ip, *LOCAL_NAMES):
            log.info("refused forwarding to %s (dyno %s is at %s)", host, grant.dyno, dyno.ip)
            return None
        return dyno.ip

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        grant: Grant | None = process.get_extra_info("moorage_grant")
        if grant is None:
            process.stderr.write(b"This session has no dyno; run heroku ps:exec again.\r\n")
            process.exit(1)
            return
        command = process.command
        argv = ["/bin/sh", "-c", command] if command else SHELL
        term = process.get_terminal_type()
        cols, rows, _, _ = process.get_terminal_size()
        loop = asyncio.get_running_loop()
        try:
            session = await loop.run_in_executor(None, self._open, grant, argv, term, rows, cols)
        except MoorageError as exc:
            process.stderr.write(f"{exc.message}\r\n".encode())
            process.exit(1)
            return
        await _relay(process, session)

    def _open(
        self, grant: Grant, argv: list[str], term: str | None, rows: int, cols: int
    ) -> TtySession:
        dyno = self.sessions.find_dyno(grant.app, grant.dyno)
        size = (rows or None, cols or None)
        return self.sessions.open_exec(dyno, argv, tty=bool(term), rows=size[0], cols=size[1])


async def _relay(process: asyncssh.SSHServerProcess[bytes], session: TtySession) -> None:
    """Client <-> the command in the dyno, then its exit status; always closes the session."""
    loop = asyncio.get_running_loop()

    heard = asyncio.Event()  # the client sent input or its end

    async def feed() -> None:
        while True:
            try:
                data = await process.stdin.read(CHUNK)
            except asyncssh.TerminalSizeChanged as change:
                await loop.run_in_executor(None, session.resize, change.height, change.width)
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            heard.set()
            if not data:
                await loop.run_in_executor(None, session.close_stdin)
                return
            await loop.run_in_executor(None, session.write, data)

    feeder = asyncio.ensure_future(feed())
    try:
        while data := await loop.run_in_executor(None, session.read, CHUNK):
            process.stdout.write(data)
        heard.clear()
        code = await loop.run_in_executor(None, session.exit_code)
        # the Heroku CLI starts reading its stdin at the first output and, without a
        # terminal, writes ^D once that ends: a channel closed before that write makes it
        # crash ("write after end"), so the close waits for it, a moment at most
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(heard.wait(), CLOSE_GRACE)
    except MoorageError as exc:
        process.stderr.write(f"{exc.message}\r\n".encode())
        code = 1
    finally:
        feeder.cancel()
        await loop.run_in_executor(None, session.close)
    process.exit(code if code is not None else 1)


class DynoFiles(asyncssh.SFTPServer):
    """The granted dyno's files, read-only: each one opened is read whole through the
    engine (``docker cp``'s archive) and served from memory (at most :data:`MAX_FILE`)."""

    def __init__(
        self, chan: asyncssh.SSHServerChannel[bytes], sessions: DynoSessions, grant: Grant | None
    ) -> None:
        super().__init__(chan)
        self.sessions, self.grant = sessions, grant

    async def _load(self, path: bytes) -> bytes:
        if self.grant is None:
            raise asyncssh.SFTPPermissionDenied("This session has no dyno.")
        grant, name = self.grant, path.decode(errors="replace")
        loop = asyncio.get_running_loop()
        try:
            dyno = await loop.run_in_executor(None, self.sessions.find_dyno, grant.app, grant.dyno)
            return await loop.run_in_executor(None, self.sessions.read_file, dyno, name, MAX_FILE)
        except MoorageError as exc:
            raise asyncssh.SFTPNoSuchFile(exc.message) from exc

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> io.BytesIO:
        if pflags & ~asyncssh.FXF_READ:
            raise asyncssh.SFTPPermissionDenied("Files of a dyno are read-only here.")
        return io.BytesIO(await self._load(path))

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, io.BytesIO)
        return file_obj.getvalue()[offset : offset + size]

    def close(self, file_obj: object) -> None:
        return None

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        assert isinstance(file_obj, io.BytesIO)
        return asyncssh.SFTPAttrs(size=len(file_obj.getvalue()), permissions=0o100644)

    async def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return asyncssh.SFTPAttrs(size=len(await self._load(path)), permissions=0o100644)

    async def lstat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return await self.stat(path)
