"""Repositories elsewhere: a signed push webhook (GitHub's shape) makes the platform fetch
the linked repository's commit and build it like ``git push``; a delivery with a wrong
signature changes nothing. The repository is served by ``git daemon`` on loopback, as a
GitHub would serve it."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "github-push.json"
DOCKERFILE = (
    "FROM python:3\nWORKDIR /srv\nCOPY index.html .\n"
    'CMD ["sh", "-c", "exec python3 -m http.server ${PORT:-5000}"]\n'
)


def _git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip


def _commit(repo: Path, page: str) -> str:
    (repo / "index.html").write_text(page)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", page)
    return _git(repo, "rev-parse", "HEAD")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A repository with a Dockerfile, served read-only by ``git daemon``."""
    base = tmp_path_factory.mktemp("upstream")
    repo = base / "shop.git"
    repo.mkdir()
    (repo / "Dockerfile").write_text(DOCKERFILE)
    _git(repo, "init", "-q", "-b", "main")
    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
         "--listen=127.0.0.1", f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield repo, f"git://127.0.0.1:{port}/shop.git"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _deliver(hook: str, secret: str, commit: str, branch: str = "main") -> httpx.Response:
    payload: dict[str, Any] = json.loads(FIXTURE.read_text())
    payload.update(ref=f"refs/heads/{branch}", after=commit)
    body = json.dumps(payload).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": f"sha256={mac}",
    }
    return httpx.post(hook, content=body, headers=headers, timeout=30)


def _build(platform: LivePlatform, app: str, build: str) -> dict[str, Any]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found: dict[str, Any] = next(
            b for b in platform.json("builds", "-a", app) if b["id"] == build
        )
        if found["status"] != "pending":
            return found
        time.sleep(1)
    raise AssertionError(f"build {build} still pending")


def test_a_signed_push_builds_the_linked_branch_and_a_forged_one_does_nothing(
    platform: LivePlatform, upstream: tuple[Path, str]
) -> None:
    repo, url = upstream
    app = platform.create_app("hook")
    linked = platform.json("repo:link", url, "--branch", "main", "-a", app)
    hook, secret = linked["hook_url"], linked["secret"]
    assert platform.json("repo", "-a", app)["secret"] is None  # shown once

    first = _commit(repo, "hello from the webhook")
    answer = _deliver(hook, secret, first)
    assert answer.status_code == 202, answer.text
    built = _build(platform, app, answer.json()["build"])
    assert built["status"] == "succeeded", built
    assert built["source_blob"]["version"] == first and built["release"]
    platform.wait_for(app, "hello from the webhook", timeout=180)

    releases = len(platform.json("releases", "-a", app))
    forged = _deliver(hook, "not-the-secret", _commit(repo, "forged"))
    assert forged.status_code == 401 and "signature does not match" in forged.json()["message"]
    stranger = _deliver(hook.replace(app, "no-such-app"), secret, first)
    assert stranger.status_code == 401  # the same answer: no hint which apps exist
    other = _deliver(hook, secret, first, branch="feature")
    assert other.status_code == 202 and "Ignored" in other.json()["message"]
    assert len(platform.json("builds", "-a", app)) == 1
    assert len(platform.json("releases", "-a", app)) == releases
    platform.wait_for(app, "hello from the webhook")


def test_a_commit_that_is_not_on_the_branch_fails_its_build_clearly(
    platform: LivePlatform, upstream: tuple[Path, str]
) -> None:
    _, url = upstream
    app = platform.create_app("hookbad")
    linked = platform.json("repo:link", url, "-a", app)
    answer = _deliver(linked["hook_url"], linked["secret"], "ab" * 20)
    built = _build(platform, app, answer.json()["build"])
    assert built["status"] == "failed" and "Cannot fetch commit abababab" in built["message"]
    assert "git://127.0.0.1" in built["message"] and not built["release"]
    bad = platform.moor("repo:link", "file:///etc", "-a", app, check=False)
    assert bad.returncode != 0 and "not a repository URL" in bad.stderr
    assert "Traceback" not in bad.stderr


def _pull_request(hook: str, secret: str, action: str, branch: str, commit: str) -> httpx.Response:
    payload: dict[str, Any] = json.loads(FIXTURE.with_name("github-pull_request.json").read_text())
    payload.update(action=action, number=7)
    payload["pull_request"]["head"].update(ref=branch, sha=commit)
    body = json.dumps(payload).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-Hub-Signature-256": f"sha256={mac}",
    }
    return httpx.post(hook, content=body, headers=headers, timeout=30)


def test_a_pull_request_opens_a_review_app_and_closing_it_removes_it(
    platform: LivePlatform, upstream: tuple[Path, str]
) -> None:
    repo, url = upstream
    app = platform.create_app("hookrv")
    linked = platform.json("repo:link", url, "-a", app)
    pipeline = f"hk{app[-6:]}"
    platform.moor("pipelines:create", pipeline, "-a", app, "--stage", "staging")
    platform.moor("reviewapps:enable", "-p", pipeline)
    _git(repo, "checkout", "-q", "-B", "feature-y")
    commit = _commit(repo, "hello from a pull request")
    _git(repo, "checkout", "-q", "main")
    review = f"{pipeline}-pr-feature-y"

    opened = _pull_request(linked["hook_url"], linked["secret"], "opened", "feature-y", commit)
    assert opened.status_code == 202 and "review app of feature-y" in opened.json()["message"]
    platform.wait_for(review, "hello from a pull request", timeout=300)
    assert [r["branch"] for r in platform.json("reviewapps", "-p", pipeline)] == ["feature-y"]

    closed = _pull_request(linked["hook_url"], linked["secret"], "closed", "feature-y", commit)
    assert closed.status_code == 202
    deadline = time.monotonic() + 120
    while review in {a["name"] for a in platform.json("apps")}:
        assert time.monotonic() < deadline, "the review app outlived its pull request"
        time.sleep(1)
    platform.moor("pipelines:destroy", pipeline)
