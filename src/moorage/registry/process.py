"""Runs Docker Distribution (``docker-registry serve``) detached, adopting a running one."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from moorage.errors import ComponentFailed
from moorage.registry.config import render_config
from moorage.registry.tokens import ensure_signing_key

BINARY = "/usr/bin/docker-registry"


class RegistryProcess:
    def __init__(self, root: Path, port: int, realm: str) -> None:
        self.root = root
        self.port = port
        self.realm = realm
        self.key = root / "token.key"
        self.cert = root / "token.crt"
        self.pidfile = root / "registry.pid"

    def prepare(self) -> None:
        """Keys and config, created once (the config is rewritten, keeping its secret)."""
        self.root.mkdir(parents=True, exist_ok=True)
        ensure_signing_key(self.key, self.cert)
        secret_file = self.root / "http.secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(32))
            secret_file.chmod(0o600)
        config = render_config(
            storage=self.root / "data",
            addr=f"127.0.0.1:{self.port}",
            realm=self.realm,
            cert=self.cert,
            http_secret=secret_file.read_text().strip(),
        )
        (self.root / "config.yml").write_text(config)
        (self.root / "config.yml").chmod(0o600)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"docker-registry" in cmdline else None

    def running(self) -> bool:
        return self._pid() is not None

    def ensure_running(self) -> bool:
        """Start the registry unless ours runs; True when it was started."""
        if self.running():
            return False
        self.prepare()
        log = (self.root / "registry.log").open("ab")
        proc = subprocess.Popen(
            [BINARY, "serve", str(self.root / "config.yml")],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ComponentFailed(
                    f"The registry exited at start (status {proc.returncode}); "
                    f"see {self.root / 'registry.log'}."
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.1)
        raise ComponentFailed(f"The registry did not listen on port {self.port} within 15 s.")

    def held_deleted(self) -> tuple[int, int]:
        """(files, bytes) under our root the registry keeps open after they were deleted (a
        push that failed on a full disk leaves its upload open): space nothing can use, and
        a volume that cannot be unmounted."""
        pid = self._pid()
        if pid is None:
            return 0, 0
        files = size = 0
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
                if target.startswith(str(self.root)) and target.endswith(" (deleted)"):
                    files, size = files + 1, size + fd.stat().st_size
            except OSError:
                continue
        return files, size

    def restart(self) -> None:
        """Stop the registry (SIGTERM, 10 s, then SIGKILL) and start it again once the old
        process has let go of its port."""
        pid = self._pid()
        self.stop()
        if pid is not None:
            deadline = time.monotonic() + 10
            while not _exited(pid):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    deadline += 10
                time.sleep(0.1)
        self.ensure_running()

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)


def _exited(pid: int) -> bool:
    """Gone or a zombie: its sockets are closed (an exiting process loses its command line
    before its files, so an empty cmdline is not enough)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")
