"""``heroku git:remote`` and ``git push heroku main`` with the unmodified Heroku CLI.

heroku@11 makes the remote ``https://git.<HEROKU_HOST>/<app>.git`` and sets itself up as
git's credential helper for that host (``credential.https://git.<HEROKU_HOST>.helper =
!heroku git:credentials``, in the global git config), which answers with the user name
``heroku`` and the CLI's API token as the password. The platform's edge serves
``git.<domain>`` (its API's ``/git/``), so a plain ``git push`` builds and releases.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import HerokuCli
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
DOCKERFILE = """FROM python:3
WORKDIR /srv
RUN echo "{page}" > /srv/index.html
CMD ["sh", "-c", "exec python3 -m http.server \\"$PORT\\""]
"""


def _git(heroku: HerokuCli, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git as the user runs it: the CLI's environment (its HOME, with the global git
    config the CLI wrote, and its PATH, where git finds ``heroku`` for the helper)."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, env={**heroku.env, "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def test_git_remote_then_git_push_deploys(
    heroku: HerokuCli, platform: LivePlatform, tmp_path: Path
) -> None:
    app = f"hk-git-{os.urandom(3).hex()}"
    platform.apps.add(app)
    heroku("apps:create", app)  # outside a repository: no remote made here
    page = f"pushed with git {os.urandom(3).hex()}"
    (tmp_path / "Dockerfile").write_text(DOCKERFILE.format(page=page))
    assert _git(heroku, tmp_path, "init", "-q", "-b", "main").returncode == 0
    assert _git(heroku, tmp_path, "add", "-A").returncode == 0
    assert _git(heroku, tmp_path, "commit", "-q", "-m", "tiny").returncode == 0

    remote = heroku("git:remote", "-a", app, cwd=tmp_path)
    url = f"https://git.{platform.domain}/{app}.git"
    assert f"set git remote heroku to {url}" in remote.stdout
    assert _git(heroku, tmp_path, "remote", "get-url", "heroku").stdout.strip() == url
    helper = _git(
        heroku, tmp_path, "config", "--global", f"credential.https://git.{platform.domain}.helper"
    )
    assert helper.stdout.strip() == "!heroku git:credentials"

    pushed = _git(heroku, tmp_path, "push", "heroku", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert "remote: === Building web (Dockerfile)" in pushed.stderr
    assert "remote: Releasing v" in pushed.stderr and "... done" in pushed.stderr
    assert "main -> main" in pushed.stderr
    platform.wait_for(app, page)
    builds = platform.json("builds", "-a", app)
    assert [b["status"] for b in builds] == ["succeeded"]
