"""Review apps on the real platform: a pushed branch of a pipeline's repository becomes
``<pipeline>-pr-<branch>``, with its own fresh database seeded by app.json's postdeploy,
and deleting the branch removes the app, its add-on and its images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_git_push import _commit, _git, _push, _token
from tests.livefixtures import ACTORS, LivePlatform

pytestmark = pytest.mark.integration
SEED = """import os
import psycopg

url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS actors (id serial PRIMARY KEY, name text, born integer)"
    )
    conn.execute("INSERT INTO actors (name, born) VALUES ('Review Seed', 2026)")
"""
APP_JSON = {
    "env": {"GREETING": "branch preview", "SECRET_KEY": {"generator": "secret"}},
    "scripts": {"postdeploy": "python seed.py"},
}


def _repositories(platform: LivePlatform) -> set[str]:
    return {p.name for p in platform.data.glob("registry/**/v2/repositories/*")}


def test_a_branch_push_makes_a_review_app_and_deleting_the_branch_removes_it(
    platform: LivePlatform, tmp_path: Path
) -> None:
    staging = platform.create_app("rvstg")
    platform.moor("addons:create", "postgresql", "-a", staging)
    platform.moor("ps:port", "web", "5000", "-a", staging)
    pipeline = f"rv{staging[-6:]}"
    platform.moor("pipelines:create", pipeline, "-a", staging, "--stage", "staging")
    enabled = platform.moor("reviewapps:enable", "-p", pipeline, "--autodestroy", "5d")
    assert staging in enabled.stdout

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("myapp.py", "requirements.txt"):
        shutil.copy(ACTORS / name, repo / name)
    (repo / "Dockerfile").write_text((ACTORS / "Dockerfile").read_text() + "COPY seed.py .\n")
    (repo / "seed.py").write_text(SEED)
    (repo / "app.json").write_text(json.dumps(APP_JSON))
    (repo / "heroku.yml").write_text("build:\n  docker:\n    web: Dockerfile\n")
    _git(repo, "init", "-q", "-b", "feature-x")
    _commit(repo, "feature x")
    token = _token(platform)
    done = _push(platform, staging, repo, token, branch="feature-x")
    review = f"{pipeline}-pr-feature-x"
    assert done.returncode == 0, done.stderr
    assert "remote: === postdeploy: python seed.py" in done.stderr
    assert f"remote: Review app {review} deployed to" in done.stderr

    page = platform.wait_for(review, "Review Seed", timeout=180).text
    assert "branch preview" in page and "Meryl Streep" not in page  # its own, fresh database
    config = platform.json("config", "-a", review)
    assert len(config["SECRET_KEY"]) == 64
    assert config["DATABASE_URL"] != platform.json("config", "-a", staging)["DATABASE_URL"]
    listed = platform.json("reviewapps", "-p", pipeline)
    assert [(r["app"]["name"], r["branch"]) for r in listed] == [(review, "feature-x")]
    addon = platform.json("addons", "-a", review)[0]["name"]
    assert review in _repositories(platform)

    gone = _git(repo, "push", _push_url(platform, staging, token), ":feature-x", check=False)
    assert gone.returncode == 0, gone.stderr
    assert f"remote: Destroyed review app {review}" in gone.stderr
    assert review not in {a["name"] for a in platform.json("apps")}
    assert platform.json("reviewapps", "-p", pipeline) == []
    assert addon not in {a["name"] for a in platform.json("addons", "-a", staging)}
    assert review not in _repositories(platform)
    platform.moor("pipelines:destroy", pipeline)


def _push_url(platform: LivePlatform, app: str, token: str) -> str:
    return f"{platform.api.replace('http://', f'http://_:{token}@')}/git/{app}.git"
