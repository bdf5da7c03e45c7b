"""Review apps: a pipeline's configuration (``/pipelines/{id}/review-app-config``), its
review apps (``/pipelines/{id}/review-apps``, ``/review-apps/{id}``), and the two calls the
repository's pre-receive hook makes for a branch that is not a deploy branch
(``/apps/{app}/review-builds``, ``DELETE /apps/{app}/review-apps/{branch}``)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from fastapi import Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from moorage.errors import NotFound
from moorage.gitpush.repos import repo_path
from moorage.schemas.reviewapps import (
    ReviewApp,
    ReviewAppConfig,
    ReviewAppConfigBody,
    ReviewAppCreate,
)
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.routes.builds import builds_folder, check_version, receive_tar
from moorage.server.services import appremoval, apps, pipelines, reviewapps, reviewdeploy
from moorage.server.store.models import ReviewApp as ReviewAppRow
from moorage.server.store.models import User

router = api_router()
BRANCH = r"^[A-Za-z0-9._/-]{1,255}$"


@router.post("/pipelines/{ident}/review-app-config", status_code=201)
def enable(
    ident: str, body: ReviewAppConfigBody, platform: PlatformDep, user: UserDep
) -> ReviewAppConfig:
    """Enable (or change) the pipeline's review apps. ``repo``: the app whose repository's
    branches become review apps (default: the pipeline's staging app, else its first)."""
    with platform.store.session() as s:
        pipeline = pipelines.managed(s, user, ident)
        if body.repo is not None:
            repo = apps.get(s, user, body.repo)
        else:
            coupled = sorted(pipeline.couplings, key=lambda c: (c.stage != "staging", c.created_at))
            if not coupled:
                raise NotFound(f"{pipeline.name} has no apps; add one with `moor pipelines:add`.")
            repo = apps.get(s, user, coupled[0].app_id)
        found = reviewapps.enable(
            s,
            pipeline,
            repo,
            body.automatic_review_apps,
            reviewapps.parse_autodestroy(body.autodestroy),
            body.config_vars,
        )
        return reviewapps.view_config(found, pipeline)


@router.get("/pipelines/{ident}/review-app-config")
def show_config(ident: str, platform: PlatformDep, user: UserDep) -> ReviewAppConfig:
    with platform.store.session() as s:
        pipeline = pipelines.get(s, user, ident)
        return reviewapps.view_config(reviewapps.config_of(s, pipeline), pipeline)


@router.delete("/pipelines/{ident}/review-app-config")
def disable(ident: str, platform: PlatformDep, user: UserDep) -> ReviewAppConfig:
    """Stop making review apps (those that exist stay until destroyed)."""
    with platform.store.session() as s:
        pipeline = pipelines.managed(s, user, ident)
        found = reviewapps.config_of(s, pipeline)
        out = reviewapps.view_config(found, pipeline)
        s.delete(found)
        return out


@router.get("/pipelines/{ident}/review-apps")
def list_review_apps(ident: str, platform: PlatformDep, user: UserDep) -> list[ReviewApp]:
    with platform.store.session() as s:
        pipeline = pipelines.get(s, user, ident)
        url = platform.settings.web_url
        rows = reviewapps.listed(s, pipeline)
        return [reviewapps.view(r, url(r.app.name)) for r in rows]


@router.post("/pipelines/{ident}/review-apps", status_code=201)
def create_review_app(
    ident: str, body: ReviewAppCreate, platform: PlatformDep, user: UserDep
) -> ReviewApp:
    """Make (or redeploy) the review app of a branch already pushed to the repository."""
    with platform.store.session() as s:
        pipeline = pipelines.get(s, user, ident)
        found = reviewapps.config_of(s, pipeline)
        repo = apps.get(s, user, found.repo_app_id).name
    tar, commit = _archive(platform, repo, body.branch)
    return _deployed(platform, user, repo, body.branch, (tar, "", commit))


def _archive(platform: Platform, repo: str, branch: str) -> tuple[Path, str]:
    """``git archive`` of ``branch`` in the repository app's repository, and its commit."""
    where = repo_path(platform.settings.data_dir / "git", repo)
    ref = f"refs/heads/{branch}"
    head = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--verify", "--quiet", ref + "^{commit}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if head.returncode != 0:
        raise NotFound(f"{repo}'s repository has no branch {branch}: push it first.")
    with tempfile.NamedTemporaryFile(dir=builds_folder(platform), suffix=".tar", delete=False) as f:
        subprocess.run(
            ["git", "-C", str(where), "archive", "--format=tar", ref], stdout=f, check=True
        )
    return Path(f.name), head.stdout.strip()


def _deployed(
    platform: Platform, user: User, repo: str, branch: str, source: tuple[Path, str, str]
) -> ReviewApp:
    try:
        build, url = reviewdeploy.deploy(platform, user, repo, branch, source)
    except BaseException:
        source[0].unlink(missing_ok=True)
        raise
    with platform.store.session() as s:
        row = s.scalar(select(ReviewAppRow).where(ReviewAppRow.app_id == build.app.id))
        assert row is not None  # deploy() made it
        out = reviewapps.view(row, url)
    out.build = build.id
    return out


@router.post("/apps/{ident}/review-builds", status_code=201)
async def review_build(
    ident: str,
    request: Request,
    platform: PlatformDep,
    user: UserDep,
    branch: str = Query(..., pattern=BRANCH),
    version: str = Query("", max_length=64),
) -> ReviewApp:
    """Build the tar sent as the body (a pushed branch) into the branch's review app."""
    check_version(version)
    await run_in_threadpool(_may_use, platform, user, ident)  # before any byte is stored
    tar, checksum = await receive_tar(request, platform)
    return await run_in_threadpool(
        _deployed, platform, user, ident, branch, (tar, checksum, version)
    )


def _may_use(platform: Platform, user: User, ident: str) -> None:
    with platform.store.session() as s:
        apps.get(s, user, ident)


@router.delete("/apps/{ident}/review-apps/{branch:path}")
def destroy_for_branch(ident: str, branch: str, platform: PlatformDep, user: UserDep) -> ReviewApp:
    """The branch was deleted: its review app goes, with its add-ons and images."""
    with platform.store.session() as s:
        repo = apps.get(s, user, ident)
        found = reviewapps.for_repo_app(s, repo)
        row = reviewapps.find(s, found[0], branch) if found is not None else None
        if row is None:
            raise NotFound(f"No review app of branch {branch} in {repo.name}'s pipeline.")
        out = reviewapps.view(row, platform.settings.web_url(row.app.name))
    appremoval.remove(platform, user, out.app.id)
    return out


@router.delete("/review-apps/{ident}")
def destroy_review_app(ident: str, platform: PlatformDep, user: UserDep) -> ReviewApp:
    """Destroy a review app (by its id or its app's name)."""
    with platform.store.session() as s:
        row = s.get(ReviewAppRow, ident)
        if row is None:
            app = apps.get(s, user, ident)
            row = s.scalar(select(ReviewAppRow).where(ReviewAppRow.app_id == app.id))
        if row is None or not apps.may_use(row.app, user):
            raise NotFound(f"No review app {ident}. See `moor reviewapps -p PIPELINE`.")
        out = reviewapps.view(row, platform.settings.web_url(row.app.name))
    appremoval.remove(platform, user, out.app.id)
    return out
