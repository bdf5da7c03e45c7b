"""The apps' bare git repositories under ``<data dir>/git``, each ``<app>.git`` with the
platform's pre-receive hook. Paths are made from validated app names only."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import moorage
from moorage.errors import RuntimeFailure
from moorage.spec.names import validate_app_name

HOOK = """#!/bin/sh
# Installed by Moorage: a push of the deploy branch builds and releases the app.
PYTHONPATH={path}
export PYTHONPATH
exec {python} -m moorage.gitpush.hook
"""


def repo_path(root: Path, app: str) -> Path:
    return root / f"{validate_app_name(app)}.git"


def ensure(root: Path, app: str) -> Path:
    """The app's bare repository, made on first use; its hook is (re)written every time,
    so it always runs this installation's Python."""
    path = repo_path(root, app)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (path / "HEAD").is_file():
        shutil.rmtree(path, ignore_errors=True)
        _git("init", "--bare", "--quiet", "--initial-branch=main", str(path))
        _git("-C", str(path), "config", "http.receivepack", "true")
        _git("-C", str(path), "config", "receive.denyNonFastForwards", "false")
    hook = path / "hooks" / "pre-receive"
    package_root = Path(moorage.__file__).resolve().parents[1]
    text = HOOK.format(path=shlex.quote(str(package_root)), python=shlex.quote(sys.executable))
    if not hook.is_file() or hook.read_text() != text:
        hook.parent.mkdir(exist_ok=True)
        tmp = hook.with_suffix(".new")
        tmp.write_text(text)
        tmp.chmod(0o700)
        tmp.replace(hook)
    return path


def remove(root: Path, app: str) -> None:
    """Forget the app's repository (at destroy, or when its name is taken again)."""
    shutil.rmtree(repo_path(root, app), ignore_errors=True)


def _git(*args: str) -> None:
    try:
        subprocess.run(["git", *args], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeFailure(f"git could not prepare the app's repository: {exc}") from exc
