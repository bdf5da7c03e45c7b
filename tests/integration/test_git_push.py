"""``git push`` deploys: the app's git remote on the platform builds the pushed tree on the
Docker Engine, releases it, and streams the build back as ``remote:`` lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.livefixtures import ACTORS, LivePlatform

pytestmark = pytest.mark.integration
HEROKU_YML = "build:\n  docker:\n    web: Dockerfile\n"


def _token(platform: LivePlatform) -> str:
    return str(json.loads((platform.data / "credentials.json").read_text())["token"])


def _remote(platform: LivePlatform, app: str, token: str) -> str:
    return f"{platform.api.replace('http://', f'http://_:{token}@')}/git/{app}.git"


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, env=env, capture_output=True, text=True, check=check, timeout=900,
    )  # fmt: skip


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def _push(platform: LivePlatform, app: str, repo: Path, token: str, branch: str = "main"):  # type: ignore[no-untyped-def]
    return _git(repo, "push", _remote(platform, app, token), f"HEAD:{branch}", check=False)


def _releases(platform: LivePlatform, app: str) -> list[int]:
    return [r["version"] for r in platform.json("releases", "-a", app)]


@pytest.fixture(scope="module")
def pushed(
    platform: LivePlatform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    app = platform.create_app("gitpush")
    platform.moor("addons:create", "postgresql", "-a", app)
    platform.moor("ps:port", "web", "5000", "-a", app)
    repo = tmp_path_factory.mktemp("actors-repo")
    for name in ("Dockerfile", "myapp.py", "requirements.txt"):
        shutil.copy(ACTORS / name, repo / name)
    (repo / "heroku.yml").write_text(HEROKU_YML)
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "actors")
    yield app, repo


def test_push_builds_releases_and_serves(platform: LivePlatform, pushed: tuple[str, Path]) -> None:
    app, repo = pushed
    done = _push(platform, app, repo, _token(platform))
    assert done.returncode == 0, done.stderr
    assert "remote: === Building web (Dockerfile)" in done.stderr
    assert "remote: Releasing v" in done.stderr and "... done" in done.stderr
    platform.wait_for(app, "Meryl Streep")
    builds = httpx.get(
        f"{platform.api}/apps/{app}/builds",
        headers={"Authorization": f"Bearer {_token(platform)}"},
    ).json()
    assert [b["status"] for b in builds] == ["succeeded"]
    assert builds[0]["release"]["version"] == max(_releases(platform, app))
    assert builds[0]["source_blob"]["checksum"].startswith("SHA256:")


def test_second_push_rebuilds_only_the_changed_layer(
    platform: LivePlatform, pushed: tuple[str, Path]
) -> None:
    app, repo = pushed
    text = (repo / "myapp.py").read_text()
    heading = f"Actors {os.urandom(3).hex()}"  # new on every run: no layer of it is cached
    (repo / "myapp.py").write_text(text.replace("<h1>Actors</h1>", f"<h1>{heading}</h1>"))
    _commit(repo, "one line")
    done = _push(platform, app, repo, _token(platform))
    assert done.returncode == 0, done.stderr
    out = done.stderr
    pip = out.index("RUN pip install")
    assert "Using cache" in out[pip : out.index("Step", pip + 1)]
    copy = out.index("COPY myapp.py")
    assert "Using cache" not in out[copy : out.index("Step", copy + 1)]
    platform.wait_for(app, heading)
    listed = platform.json("builds", "-a", app)
    assert [b["status"] for b in listed] == ["succeeded", "succeeded"]
    shown = platform.moor("builds:output", listed[0]["id"], "-a", app).stdout
    assert "COPY myapp.py" in shown


def test_failing_step_refuses_the_push_and_keeps_serving(
    platform: LivePlatform, pushed: tuple[str, Path]
) -> None:
    app, repo = pushed
    before = _releases(platform, app)
    dockerfile = (repo / "Dockerfile").read_text()
    (repo / "Dockerfile").write_text(
        dockerfile.replace("COPY myapp.py .", "RUN false\nCOPY myapp.py .")
    )
    _commit(repo, "broken")
    done = _push(platform, app, repo, _token(platform))
    assert done.returncode != 0
    assert "remote: Build failed" in done.stderr and "RUN false" in done.stderr
    assert _releases(platform, app) == before
    platform.wait_for(app, "Meryl Streep", timeout=10)
    _git(repo, "reset", "-q", "--hard", "HEAD~1")


def test_push_without_heroku_yml_or_dockerfile(platform: LivePlatform, tmp_path: Path) -> None:
    app = platform.create_app("gitbare")
    (tmp_path / "README.md").write_text("nothing to build\n")
    _git(tmp_path, "init", "-q", "-b", "main")
    _commit(tmp_path, "readme")
    done = _push(platform, app, tmp_path, _token(platform))
    assert done.returncode != 0
    assert "remote: Build failed: Neither heroku.yml" in done.stderr
    assert _releases(platform, app) == []


def test_push_by_a_user_without_access_is_refused(platform: LivePlatform, tmp_path: Path) -> None:
    app = platform.create_app("gitprivate")
    stranger = platform.new_token("stranger-git@example.com")
    (tmp_path / "Dockerfile").write_text("FROM python:3\n")
    _git(tmp_path, "init", "-q", "-b", "main")
    _commit(tmp_path, "x")
    done = _push(platform, app, tmp_path, stranger)
    assert done.returncode != 0
    assert not (platform.data / "git" / f"{app}.git").exists()
    assert _releases(platform, app) == []
    no_token = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         f"{platform.api}/git/{app}.git/info/refs?service=git-receive-pack"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert no_token.stdout == "401"


def test_other_branches_are_refused_and_not_stored(
    platform: LivePlatform, pushed: tuple[str, Path]
) -> None:
    app, repo = pushed
    before = _releases(platform, app)
    done = _push(platform, app, repo, _token(platform), branch="feature")
    assert done.returncode != 0
    assert "remote: Push refused: refs/heads/feature is not a deploy branch" in done.stderr
    listed = _git(repo, "ls-remote", _remote(platform, app, _token(platform)), "feature")
    assert listed.stdout.strip() == ""
    assert _releases(platform, app) == before
