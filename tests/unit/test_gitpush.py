"""git push deploys: the pure parts (ref selection, CGI answers, heroku.yml's build
section, unpacking the pushed tree)."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moorage.errors import InvalidParams
from moorage.server.background.builder import read_manifest, unpack
from moorage.server.platform import Platform
from moorage.server.services import builds as builds_service
from moorage.server.store.models import App, User
from moorage.settings import Settings
from moorage.spec.gitpush import (
    ZERO,
    deploy_update,
    parse_branches,
    parse_cgi_head,
    parse_ref_updates,
    refused_updates,
    split_cgi_head,
)
from moorage.spec.manifests import parse_heroku_yml
from moorage.spec.status import ProofStatus
from tests.unit.conftest import make_token

A, B = "a" * 40, "b" * 40


def test_main_deploys_other_branches_do_not() -> None:
    updates = parse_ref_updates(f"{A} {B} refs/heads/feature\n{A} {B} refs/heads/main\n")
    assert deploy_update(updates) == updates[1]
    assert deploy_update(updates[:1]) is None


def test_main_wins_over_master_and_deletions_never_deploy() -> None:
    updates = parse_ref_updates(f"{A} {B} refs/heads/master\n{A} {B} refs/heads/main\n")
    assert deploy_update(updates).ref == "refs/heads/main"  # type: ignore[union-attr]
    assert deploy_update(parse_ref_updates(f"{A} {ZERO} refs/heads/main\n")) is None
    assert parse_ref_updates("garbage\n\n") == []


def test_only_deploy_branches_may_be_pushed() -> None:
    updates = parse_ref_updates(
        f"{A} {B} refs/heads/main\n{A} {B} refs/heads/feature\n{A} {B} refs/tags/v1\n"
        f"{A} {ZERO} refs/heads/master\n"
    )
    assert [u.ref for u in refused_updates(updates)] == ["refs/heads/feature", "refs/tags/v1"]
    assert [u.ref for u in refused_updates(updates, ("feature",))] == [
        "refs/heads/main",
        "refs/tags/v1",
        "refs/heads/master",
    ]
    assert parse_branches(" prod , staging ") == ("prod", "staging")
    assert parse_branches("") == ("main", "master")


def test_hook_refuses_a_push_of_another_branch_before_any_build() -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(src),
        "MOORAGE_APP": "myapp",
        "MOORAGE_API": "http://127.0.0.1:9",  # nothing answers: the hook must not call it
        "MOORAGE_PUSH_TOKEN": "t",
        "MOORAGE_DEPLOY_BRANCHES": "prod",
    }
    done = subprocess.run(
        [sys.executable, "-m", "moorage.gitpush.hook"],
        input=f"{A} {B} refs/heads/main\n", env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Push refused: refs/heads/main is not a deploy branch; this platform deploys prod" in (
        done.stdout
    )
    assert "git push <remote> HEAD:prod" in done.stdout


def test_build_limits_and_branches_are_settings() -> None:
    default = Settings.from_env({})
    assert (default.build_timeout, default.build_memory, default.build_workers) == (
        900.0,
        2 << 30,
        1,
    )
    assert default.deploy_branches == ("main", "master")
    s = Settings.from_env(
        {
            "MOORAGE_BUILD_TIMEOUT": "30",
            "MOORAGE_BUILD_MEMORY": "512m",
            "MOORAGE_BUILD_WORKERS": "2",
            "MOORAGE_DEPLOY_BRANCHES": "main,release",
        }
    )
    assert (s.build_timeout, s.build_memory, s.build_workers) == (30.0, 512 << 20, 2)
    assert s.deploy_branches == ("main", "release")
    assert Settings.from_env({"MOORAGE_BUILD_MEMORY": "1GiB"}).build_memory == 1 << 30


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MOORAGE_BUILD_TIMEOUT", "0"),
        ("MOORAGE_BUILD_TIMEOUT", "soon"),
        ("MOORAGE_BUILD_MEMORY", "lots"),
        ("MOORAGE_BUILD_MEMORY", "1m"),
        ("MOORAGE_BUILD_WORKERS", "-1"),
        ("MOORAGE_BUILD_WORKERS", "0.5"),
        ("MOORAGE_DEPLOY_BRANCHES", " , "),
        ("MOORAGE_DEPLOY_BRANCHES", "main,refs/heads/x"),
    ],
)
def test_bad_build_settings_are_refused(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        Settings.from_env({key: value})


def test_cgi_head_split_and_parsed() -> None:
    assert split_cgi_head(b"Content-Type: x\r\n") is None
    head, rest = split_cgi_head(b"Status: 404 Not Found\r\nExpires: 0\r\n\r\nbody")  # type: ignore[misc]
    assert rest == b"body"
    assert parse_cgi_head(head) == (404, [("Expires", "0")])
    assert parse_cgi_head(b"Content-Type: application/x-git-receive-pack-result") == (
        200,
        [("Content-Type", "application/x-git-receive-pack-result")],
    )
    assert parse_cgi_head(b"Status: nonsense")[0] == 502
    with pytest.raises(ValueError):
        split_cgi_head(b"x" * 70000)


def test_heroku_yml_build_section() -> None:
    m = parse_heroku_yml(
        "build:\n  docker:\n    web: Dockerfile\n    worker: worker/Dockerfile\n"
        "  config:\n    RAILS_ENV: production\n    N: 3\n"
        "run:\n  web: flask run\nrelease:\n  command: ./migrate\n"
    )
    assert m.dockerfiles == {"web": "Dockerfile", "worker": "worker/Dockerfile"}
    assert m.build_args == {"RAILS_ENV": "production", "N": "3"}
    assert m.commands == {"web": "flask run"} and m.release_command == "./migrate"


@pytest.mark.parametrize(
    "text",
    [
        "build: [x]\n",
        "build:\n  docker: Dockerfile\n",
        "build:\n  docker:\n    web: /etc/passwd\n",
        "build:\n  docker:\n    web: ../Dockerfile\n",
        "build:\n  docker:\n    Web_1: Dockerfile\n",
        "build:\n  config:\n    K: [1]\n",
    ],
)
def test_bad_build_sections_are_refused(text: str) -> None:
    with pytest.raises(InvalidParams):
        parse_heroku_yml(text)


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_unpack_refuses_members_leaving_the_folder(tmp_path: Path) -> None:
    source, into = tmp_path / "src.tar", tmp_path / "out"
    into.mkdir()
    source.write_bytes(_tar([(tarfile.TarInfo("../escaped"), b"x")]))
    with pytest.raises(InvalidParams):
        unpack(source, into)
    assert not (tmp_path / "escaped").exists()
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    source.write_bytes(_tar([(link, b"")]))
    with pytest.raises(InvalidParams):
        unpack(source, into)


def test_manifest_from_heroku_yml_else_dockerfile(tmp_path: Path) -> None:
    assert read_manifest(tmp_path).dockerfiles == {}
    (tmp_path / "Dockerfile").write_text("FROM python:3\n")
    (tmp_path / "Procfile").write_text("web: gunicorn app\n")
    m = read_manifest(tmp_path)
    assert m.dockerfiles == {"web": "Dockerfile"} and m.commands == {"web": "gunicorn app"}
    (tmp_path / "heroku.yml").write_text("build:\n  docker:\n    worker: Dockerfile\n")
    assert read_manifest(tmp_path).dockerfiles == {"worker": "Dockerfile"}


def test_git_remote_asks_for_credentials_and_hides_others_apps(
    api: TestClient, platform: Platform
) -> None:
    api.post("/apps", json={"name": "pushed"}).raise_for_status()
    refs = "/git/pushed.git/info/refs?service=git-receive-pack"
    anonymous = api.get(refs, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="moorage"'
    bob = base64.b64encode(f"_:{make_token(platform, 'bob@example.test')}".encode()).decode()
    refused = api.post(
        "/git/pushed.git/git-receive-pack", headers={"Authorization": f"Basic {bob}"}, content=b"x"
    )
    assert refused.status_code == 404
    assert not (platform.settings.data_dir / "git" / "pushed.git").exists()
    assert api.get("/git/pushed.git/objects/info/packs").status_code == 404
    alice = api.get(refs)
    assert alice.status_code == 200
    assert alice.headers["content-type"] == "application/x-git-receive-pack-advertisement"
    assert (platform.settings.data_dir / "git" / "pushed.git" / "hooks" / "pre-receive").is_file()
    assert api.get("/apps/pushed").json()["git_url"] == "https://git.moorage.localhost/pushed.git"


def test_only_a_running_build_can_be_cancelled(api: TestClient, platform: Platform) -> None:
    api.post("/apps", json={"name": "built"}).raise_for_status()
    with platform.store.session() as s:
        app = s.scalar(select(App).where(App.name == "built"))
        user = s.scalar(select(User).where(User.email == "alice@example.test"))
        assert app is not None and user is not None
        ended = builds_service.create(s, app, user, "SHA256:00", "")
        ended.status = ProofStatus.FAILED
        ended_id = ended.id
    gone = api.post(f"/apps/built/builds/{ended_id}/actions/cancel")
    assert gone.status_code == 409
    assert gone.json()["message"] == (
        f"Build {ended_id} has ended already (failed); there is nothing to cancel."
    )
    missing = api.post("/apps/built/builds/nope/actions/cancel")
    assert missing.status_code == 404 and "built has no build nope" in missing.json()["message"]


def test_builds_made_within_one_second_list_in_the_order_they_were_made(
    platform: Platform,
) -> None:
    """Two quick pushes: the store keeps times finer than the API's seconds, so `builds`
    lists the superseded build before the one that replaced it."""
    from moorage.server.services import apps, auth

    with platform.store.session() as s:
        user = auth.ensure_user(s, "quick@example.test")
        app = apps.create(s, user, "quick-pushes")
        made = [builds_service.create(s, app, user, f"sum{i}", f"v{i}").id for i in range(5)]
        assert [b.id for b in builds_service.list_for(s, app)] == made
