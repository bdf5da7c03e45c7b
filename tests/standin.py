"""Public registries, stood in for on loopback: no image can be pulled from the internet here.

:class:`StandIn` is a second Docker Distribution (Debian's ``docker-registry``) that tests fill
with images built offline from the stack image and publish under the names manifests use
(``ghcr.io/org/app:1.2`` is stored as ``<stand-in>/ghcr.io/org/app:1.2``). The test platform
reaches it through its mirror setting, ``MOORAGE_REGISTRY_MIRRORS=*=http://<stand-in>/{host}``,
so manifests stay exactly as their authors wrote them. With ``login`` it is a private
registry (htpasswd, as Distribution does it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import bcrypt
import docker

from moorage.spec.imageref import parse

TINY_APP = """\
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (os.environ.get("GREETING", "{greeting}") + " " + " ".join(sys.argv[1:])).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), H).serve_forever()
"""


class StandIn:
    def __init__(self, port: int, login: tuple[str, str] | None = None) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.login = login
        self.root = Path(tempfile.mkdtemp(prefix="moorage-standin-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        auth = ""
        if self.login is not None:
            user, password = self.login
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
            (self.root / "htpasswd").write_text(f"{user}:{hashed}\n")
            auth = f"auth:\n  htpasswd:\n    realm: stand-in\n    path: {self.root / 'htpasswd'}\n"
        (self.root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n{auth}"
        )
        log = (self.root / "registry.log").open("ab")
        self._proc = subprocess.Popen(
            ["docker-registry", "serve", str(self.root / "config.yml")], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the stand-in registry did not start on {self.host}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def where(self, name: str) -> str:
        """Where ``name`` (as a manifest writes it) is stored here."""
        ref = parse(name)
        return str(ref) if ref.host == self.host else ref.at(self.host, ref.host)

    def publish(self, name: str, greeting: str = "hello", base: str = "python:3") -> str:
        """Build a small web app offline (``base`` is the stack image) and publish it as
        ``name``; its manifest digest."""
        engine = docker.from_env()
        with tempfile.TemporaryDirectory() as ctx:
            Path(ctx, "app.py").write_text(TINY_APP.replace("{greeting}", greeting))
            Path(ctx, "Dockerfile").write_text(
                f'FROM {base}\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n'
            )
            target = self.where(name)
            engine.images.build(path=ctx, tag=target, rm=True)
        return self.push(target)

    def build(self, name: str, context: Path, **buildargs: str) -> str:
        """``docker build`` of ``context`` (offline: its FROM is the stack image), published
        as ``name``, as a team pushes its image to its registry; the manifest digest."""
        target = self.where(name)
        docker.from_env().images.build(
            path=str(context), tag=target, rm=True, buildargs=buildargs or None
        )
        return self.push(target)

    def build_with_redis(self, name: str, context: Path) -> str:
        """:meth:`build` of a context whose Dockerfile copies in ``redis-server``: this
        host's binary (see :meth:`redis`), added to a copy of the context."""
        with tempfile.TemporaryDirectory() as ctx:
            shutil.copytree(context, ctx, dirs_exist_ok=True)
            shutil.copy(Path("/usr/bin/redis-server").resolve(), Path(ctx, "redis-server"))
            return self.build(name, Path(ctx))

    def redis(self, name: str) -> str:
        """A stand-in for the official Redis image (``redis:7``) that keeps its contract:
        a real Redis server on 6379, no password. Its binary is this host's Debian
        redis-server (the stack image has its libraries), as the image cannot be pulled."""
        with tempfile.TemporaryDirectory() as ctx:
            shutil.copy(Path("/usr/bin/redis-server").resolve(), Path(ctx, "redis-server"))
            Path(ctx, "Dockerfile").write_text(
                "FROM python:3\nCOPY redis-server /usr/local/bin/redis-server\nEXPOSE 6379\n"
                'CMD ["redis-server", "--protected-mode", "no", "--dir", "/tmp"]\n'
            )
            return self.build(name, Path(ctx))

    def push(self, target: str) -> str:
        """Push a local image already tagged ``target`` (a :meth:`where` name)."""
        engine = docker.from_env()
        auth = {"username": self.login[0], "password": self.login[1]} if self.login else None
        repo, _, tag = target.rpartition(":")
        digest = ""
        for event in engine.api.push(repo, tag, stream=True, decode=True, auth_config=auth):
            if "error" in event:
                raise AssertionError(f"push of {target} failed: {event['error']}")
            digest = event.get("aux", {}).get("Digest", digest)
        return digest
