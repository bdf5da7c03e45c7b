"""heroku.yml's ``setup`` on the real platform: the first ``git push`` provisions the add-ons
and sets the config vars it names before releasing; a later push with another ``setup``
changes neither."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_git_push import _commit, _git, _push, _token
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
DOCKERFILE = (
    "FROM python:3\n"
    'CMD ["sh", "-c", "mkdir -p /tmp/www && cd /tmp/www && '
    'echo \\"greeting=$GREETING redis=${REDIS_URL%%:*}\\" > index.html '
    '&& exec python3 -m http.server ${PORT:-5000}"]\n'
)
SETUP = (
    "setup:\n  addons:\n    - plan: heroku-redis\n  config:\n    GREETING: {greeting}\n"
    "build:\n  docker:\n    web: Dockerfile\n"
)


def test_the_first_push_sets_up_addons_and_config_and_later_pushes_do_not(
    platform: LivePlatform, tmp_path: Path
) -> None:
    app = platform.create_app("setup")
    platform.moor("config:set", "KEPT=mine", "-a", app)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text(DOCKERFILE)
    (repo / "heroku.yml").write_text(SETUP.format(greeting="hello") + "")
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "first")
    done = _push(platform, app, repo, _token(platform))
    assert done.returncode == 0, done.stderr
    assert "remote: === Setting up (heroku.yml setup, first deploy)" in done.stderr
    assert "remote: Added redis" in done.stderr and "Set GREETING config vars" in done.stderr
    platform.wait_for(app, "greeting=hello redis=redis", timeout=180)
    config = platform.json("config", "-a", app)
    assert config["KEPT"] == "mine" and config["REDIS_URL"].startswith("redis://")

    (repo / "heroku.yml").write_text(
        SETUP.format(greeting="changed").replace("redis", "postgresql")
    )
    _commit(repo, "second")
    again = _push(platform, app, repo, _token(platform))
    assert again.returncode == 0, again.stderr
    assert "Setting up" not in again.stderr
    assert [a["addon_service"]["name"] for a in platform.json("addons", "-a", app)] == ["redis"]
    assert platform.json("config", "-a", app)["GREETING"] == "hello"
