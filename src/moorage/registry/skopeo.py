"""Registry-to-registry image copies with skopeo (Debian's ``skopeo``, containers/image).

The platform copies a prebuilt image into its own registry blob for blob: no Docker Engine
pull, unpack, re-compress and push, and the manifest's digest stays the one its author
published. Credentials go in an auth file readable by root only, never on a command line;
each call is bounded by ``--command-timeout``. skopeo's ``level=fatal msg="..."`` line is
turned into a sentence that says what to do (:func:`explain`).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from moorage.errors import ImageUnavailable, RegistryUnreachable, StorageFull
from moorage.registry.mirrors import Source

BINARY = "skopeo"
POLICY = {"default": [{"type": "insecureAcceptAnything"}]}  # signatures: not checked
_FATAL = re.compile(r'level=fatal msg="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Login:
    """A user's credentials for a registry host."""

    host: str
    username: str
    password: str


class Skopeo:
    def __init__(self, workdir: Path, inspect_timeout: float = 60, copy_timeout: float = 1800):
        self.workdir = workdir
        self.inspect_timeout = inspect_timeout
        self.copy_timeout = copy_timeout

    def raw_manifest(self, source: Source, login: Login | None) -> tuple[bytes, str]:
        """The manifest bytes at ``source`` and their media type (a list or one image)."""
        with self._auth(source, login) as auth:
            argv = [*self._global(self.inspect_timeout), "inspect", "--raw", *auth]
            proc = self._run([*argv, f"docker://{source.reference}"], self.inspect_timeout)
        if proc.returncode != 0:
            raise explain(proc.stderr, source, login)
        manifest = json.loads(proc.stdout)
        return proc.stdout.encode(), str(manifest.get("mediaType", ""))

    def copy(
        self,
        source: Source,
        login: Login | None,
        dest: str,
        dest_token: str,
        on_line: Callable[[str], None],
    ) -> None:
        """Copy ``source`` (pinned by digest) to ``dest`` on the platform's registry."""
        with self._auth(source, login) as auth:
            argv = [
                *self._global(self.copy_timeout),
                "copy",
                "--preserve-digests",
                "--retry-times=2",
                *[a.replace("--", "--src-", 1) for a in auth],
                "--dest-tls-verify=false",
                f"--dest-registry-token={dest_token}",
                f"docker://{source.reference}",
                f"docker://{dest}",
            ]
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            said: list[str] = []
            for line in proc.stdout or ():
                said.append(line)
                if "level=" not in line:
                    on_line(line.rstrip())
            if proc.wait() != 0:
                raise explain("".join(said), source, login)

    def _global(self, timeout: float) -> list[str]:
        policy = self.workdir / "policy.json"
        if not policy.exists():
            self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            policy.write_text(json.dumps(POLICY))
        return [BINARY, f"--policy={policy}", f"--command-timeout={int(timeout)}s"]

    @contextmanager
    def _auth(self, source: Source, login: Login | None) -> Iterator[list[str]]:
        """``--tls-verify`` and, with a login, ``--authfile`` of a 0600 file in a 0700
        folder, removed after (the password is never on a command line)."""
        args = [f"--tls-verify={'true' if source.tls else 'false'}"]
        if login is None:
            yield args
            return
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        with tempfile.NamedTemporaryFile("w", dir=self.workdir, suffix=".json") as fh:
            json.dump({"auths": {source.registry: {"auth": token}}}, fh)
            fh.flush()
            yield [*args, f"--authfile={fh.name}"]

    @staticmethod
    def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(argv, 1, "", f"context deadline exceeded: {exc}")


def explain(stderr: str, source: Source, login: Login | None) -> Exception:
    """skopeo's failure as a platform error that says what to do."""
    found = _FATAL.findall(stderr)
    detail = found[-1].replace('\\"', '"') if found else stderr.strip()[-300:]
    where = f"{source.reference}"
    low = detail.lower()
    if "no space left on device" in low:
        return StorageFull(f"{where}: the registry's disk filled up while copying the image.")
    if "manifest unknown" in low or "name unknown" in low or "not found" in low:
        return ImageUnavailable(f"{where}: {source.registry} has no such image (tag or digest).")
    if "unauthorized" in low or "authentication required" in low or "denied" in low:
        host = source.mirror_of or source.registry
        how = (
            f"the credentials for {host} were refused; check them with moor registry:login"
            if login
            else f"add credentials with moor registry:login {host} -a APP"
        )
        return ImageUnavailable(f"{where}: unauthorized: {how}.")
    return RegistryUnreachable(f"{where}: {source.registry} could not be reached ({detail}).")
