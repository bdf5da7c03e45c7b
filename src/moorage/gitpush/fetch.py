"""Fetch a linked repository's commit and make the tar a build takes (``git push`` sends the
same tar through its hook). The platform's own ``git`` does the transport, in a bare mirror
per app under ``<data>/git-mirrors``, so a second fetch brings only what is new.

Only network transports are allowed (``GIT_ALLOW_PROTOCOL``): a linked URL cannot make the
platform read its own files (``file://``) or run a command (``ext::``); a URL's password never
appears in a message.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from moorage.errors import InvalidParams, RuntimeFailure
from moorage.spec.names import validate_app_name

SCHEMES = ("https", "http", "ssh", "git")
FETCH_SECONDS = 300.0
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_ENV = {
    "GIT_ALLOW_PROTOCOL": ":".join(SCHEMES),
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
}


def check_url(url: str) -> str:
    """``url`` if git may fetch from it here, else InvalidParams saying what is accepted."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise InvalidParams(
            f"{redact(url)} is not a repository URL the platform fetches from: use "
            "https://host/owner/repo.git (a token as the password for a private one), "
            "ssh://git@host/owner/repo.git or git://host/repo.git."
        )
    return url


def redact(url: str) -> str:
    """``url`` without its password (shown in messages, stored in nothing else)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _git(mirror: Path, *args: str, timeout: float = FETCH_SECONDS) -> str:
    env = {**os.environ, **_ENV}
    try:
        done = subprocess.run(
            ["git", "-C", str(mirror), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeFailure(f"git {args[0]} took longer than {timeout:.0f} s.") from exc
    if done.returncode != 0:
        raise RuntimeFailure(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return done.stdout


def fetch_tar(root: Path, app: str, url: str, branch: str, commit: str, into: Path) -> Path:
    """A tar of ``commit`` (the tip of ``branch`` when it was pushed) from ``url``, made in
    ``into``. The commit must be on the branch as fetched: a payload cannot make the
    platform build a commit of another repository."""
    if not _SHA.match(commit):
        raise InvalidParams(f"{commit!r} is not a commit id.")
    mirror = root / f"{validate_app_name(app)}.git"
    if not (mirror / "HEAD").exists():
        mirror.mkdir(parents=True, exist_ok=True)
        _git(mirror, "init", "--bare", "--quiet")
    where = f"{redact(url)} ({branch})"
    try:
        refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
        _git(mirror, "fetch", "--quiet", "--no-tags", url, refspec)
        _git(mirror, "merge-base", "--is-ancestor", commit, f"refs/heads/{branch}")
    except RuntimeFailure as exc:
        said = str(exc).replace(url, redact(url))
        secret = urlsplit(url).password
        said = said.replace(secret, "***") if secret else said
        raise RuntimeFailure(f"Cannot fetch commit {commit[:10]} of {where}: {said}") from exc
    fd, name = tempfile.mkstemp(dir=into, suffix=".tar")
    os.close(fd)
    try:
        _git(mirror, "archive", "--format=tar", f"--output={name}", commit)
    except RuntimeFailure:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
