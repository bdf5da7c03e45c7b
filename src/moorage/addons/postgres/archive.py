"""pgBackRest: the WAL archive and base backups of dedicated PostgreSQL clusters.

One stanza per add-on (named after its resource) in one repository. Each cluster has its
own ``pgbackrest.conf`` (owned by ``postgres``, 0600: it holds the repository's cipher
pass) naming the repository and that cluster; every command runs as ``postgres``.

The repository defaults to ``<data dir>/pgbackrest/repo``, encrypted with a pass made on
first use. A file ``<data dir>/pgbackrest/repo.conf`` of ``repo1-*`` lines replaces those
defaults (an S3-compatible repository, another cipher): see docs/postgres.md.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shlex
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from moorage.errors import ComponentFailed

OS_USER = "postgres"
LOCK_WAIT = 120.0  # seconds to wait for the stanza's lock held by another pgBackRest process


def _postgres_owns(path: Path, mode: int) -> None:
    pw = pwd.getpwnam(OS_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(mode)


@dataclass(frozen=True)
class Window:
    """What the archive can restore: any moment from ``earliest`` to now, when ``ok``."""

    earliest: datetime | None
    backups: int
    status: str
    """pgBackRest's word for the stanza (``ok``, ``no valid backups``, ...)."""


class Archive:
    """The repository under ``root`` (or the one ``root/repo.conf`` names)."""

    def __init__(self, root: Path, window_days: int = 4) -> None:
        self.root = root
        self.window_days = window_days

    def repo_options(self) -> dict[str, str]:
        custom = self.root / "repo.conf"
        if custom.exists():
            lines = [ln.strip() for ln in custom.read_text().splitlines()]
            pairs = [ln.split("=", 1) for ln in lines if ln and not ln.startswith(("#", "["))]
            return {k.strip(): v.strip() for k, v in pairs}
        cipher = self.root / "cipher"
        if not cipher.exists():
            fd = os.open(cipher, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return {
            "repo1-path": str(self.root / "repo"),
            "repo1-cipher-type": "aes-256-cbc",
            "repo1-cipher-pass": cipher.read_text().strip(),
        }

    def prepare(self) -> None:
        """The repository directory, owned by ``postgres``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        repo = self.root / "repo"
        repo.mkdir(exist_ok=True)
        _postgres_owns(repo, 0o750)

    def write_config(self, stanza: str, cluster_root: Path, port: int, days: int) -> Path:
        """The stanza's config in ``cluster_root`` (keeping ``days`` of rollback window)."""
        self.prepare()
        state = cluster_root / "pgbackrest"
        state.mkdir(exist_ok=True)
        _postgres_owns(state, 0o700)
        options = {
            **self.repo_options(),
            "repo1-retention-full-type": "time",
            "repo1-retention-full": str(days),
            "log-path": str(state),
            "lock-path": str(state),
            "log-level-file": "info",
            "log-level-console": "warn",
            "start-fast": "y",
            "compress-type": "lz4",
            "process-max": "2",
            "archive-timeout": "120",
        }
        text = "[global]\n" + "".join(f"{k}={v}\n" for k, v in options.items())
        text += (
            f"\n[{stanza}]\npg1-path={cluster_root / 'data'}\npg1-port={port}\n"
            f"pg1-socket-path={cluster_root / 'run'}\npg1-user=postgres\n"
        )
        conf = cluster_root / "pgbackrest.conf"
        staged = conf.with_suffix(".new")
        staged.write_text(text)
        _postgres_owns(staged, 0o600)
        os.replace(staged, conf)
        return conf

    @staticmethod
    def archive_command(conf: Path, stanza: str) -> str:
        argv = ["pgbackrest", f"--config={conf}", f"--stanza={stanza}", "archive-push", "%p"]
        return " ".join(a if a == "%p" else shlex.quote(a) for a in argv)

    @staticmethod
    def restore_command(conf: Path, stanza: str) -> str:
        argv = ["pgbackrest", f"--config={conf}", f"--stanza={stanza}", "archive-get"]
        return " ".join(shlex.quote(a) for a in argv) + " %f %p"

    def run(self, conf: Path, stanza: str, *args: str, timeout: float = 3600) -> str:
        """pgbackrest ``args`` on ``stanza``; while another pgBackRest process holds the
        stanza's lock (a backup that a killed ``moor server`` left running), it waits for
        up to ``LOCK_WAIT`` seconds."""
        argv = ["runuser", "-u", OS_USER, "--", "pgbackrest", f"--config={conf}"]
        argv += [f"--stanza={stanza}", *args]
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                proc = subprocess.run(
                    argv, capture_output=True, text=True, timeout=timeout, check=False
                )
            except FileNotFoundError as exc:
                raise ComponentFailed(
                    "pgBackRest is not installed: run `apt-get install pgbackrest`."
                ) from exc
            except subprocess.TimeoutExpired as exc:
                raise ComponentFailed(f"pgbackrest {args[-1]} of {stanza} took too long") from exc
            if "ERROR: [050]" not in proc.stderr or time.monotonic() > deadline:
                break
            time.sleep(1.0)  # [050]: unable to acquire lock
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise ComponentFailed(
                f"pgbackrest {args[-1]} of {stanza} failed: {' '.join(detail[-3:])} "
                f"(log: {conf.parent / 'pgbackrest'})"
            )
        return proc.stdout

    def stanza_create(self, conf: Path, stanza: str) -> None:
        self.run(conf, stanza, "stanza-create")

    def backup(self, conf: Path, stanza: str) -> None:
        """A full base backup; the retention then expires what the window no longer needs."""
        self.run(conf, stanza, "--type=full", "backup")

    def window(self, conf: Path, stanza: str) -> Window:
        out = json.loads(self.run(conf, stanza, "--output=json", "info", timeout=60) or "[]")
        if not out:
            return Window(None, 0, "missing")
        info = out[0]
        backups = info.get("backup", [])
        stops = [b["timestamp"]["stop"] for b in backups if not b.get("error")]
        earliest = datetime.fromtimestamp(min(stops), UTC) if stops else None
        return Window(earliest, len(backups), str(info.get("status", {}).get("message", "")))

    def restore(self, conf: Path, stanza: str, data: Path, target: tuple[str, str] | None) -> None:
        """Restore ``stanza`` into the empty dir ``data``: to ``target`` (``("time", ts)`` or
        ``("name", restore point)``) and promote there, or to the end of the archive."""
        args = [f"--pg1-path={data}", "--archive-mode=preserve"]
        if target is not None:
            kind, value = target
            args += [f"--type={kind}", f"--target={value}", "--target-action=promote"]
        self.run(conf, stanza, *args, "restore")

    def stanza_delete(self, conf: Path, stanza: str) -> None:
        """Remove the stanza's backups and WAL (the cluster must be stopped)."""
        self.run(conf, stanza, "stop")
        self.run(conf, stanza, "--force", "stanza-delete")
