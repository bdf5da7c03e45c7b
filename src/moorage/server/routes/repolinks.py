"""An app's repository on GitHub, GitLab or Gitea (``/apps/{app}/repo-link``) and the webhook
those send their events to (``/hooks/{app}``): a push of the linked branch fetches that
commit from the linked URL and builds it like ``git push``.

The webhook has no token (the providers cannot send one): the delivery's signature under the
link's secret is its credential. An unknown app and a bad signature get the same answer, so
the endpoint tells strangers nothing about which apps exist.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from moorage.errors import MoorageError, PayloadTooLarge, Unauthorized
from moorage.gitpush import webhooks
from moorage.gitpush.fetch import fetch_tar
from moorage.schemas.repolinks import HookResult, RepoLink, RepoLinkCreate
from moorage.server.deps import PlatformDep, UserDep, public_base
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.routes.builds import builds_folder
from moorage.server.services import appremoval, apps, reviewapps, reviewdeploy
from moorage.server.services import builds as build_service
from moorage.server.services import repolinks as service
from moorage.server.store.models import Build, User
from moorage.spec.status import ProofStatus

log = logging.getLogger("moorage.server")
router = api_router()
MAX_DELIVERY = 5 << 20  # bytes; push payloads are far smaller
_fetches = ThreadPoolExecutor(max_workers=2, thread_name_prefix="repo-fetch")
REFUSED = (
    "The delivery's signature does not match the secret of the app's repository link (or "
    "no app by that name is linked). Copy the secret `moor repo:link` printed into the "
    "webhook's settings, or link the repository again for a new one."
)


def _hook_url(request: Request, app: str) -> str:
    return f"{public_base(request)}/hooks/{app}"


@router.put("/apps/{ident}/repo-link", status_code=201)
def link(
    ident: str, body: RepoLinkCreate, request: Request, platform: PlatformDep, user: UserDep
) -> RepoLink:
    """Link the app to its repository; the answer holds the webhook's secret, once."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        made = service.link(s, app, user, body)
        return service.view(made, app, _hook_url(request, app.name), with_secret=True)


@router.get("/apps/{ident}/repo-link")
def show(ident: str, request: Request, platform: PlatformDep, user: UserDep) -> RepoLink:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return service.view(service.get(s, app), app, _hook_url(request, app.name))


@router.delete("/apps/{ident}/repo-link")
def unlink(ident: str, request: Request, platform: PlatformDep, user: UserDep) -> RepoLink:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.get(s, app)
        out = service.view(found, app, _hook_url(request, app.name))
        s.delete(found)
        return out


@router.post("/hooks/{app}", status_code=202)
async def deliver(app: str, request: Request, platform: PlatformDep) -> HookResult:
    """A GitHub, GitLab or Gitea delivery (``application/json``): ``push`` of the linked
    branch builds that commit; ``ping`` answers; other events are acknowledged and ignored."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DELIVERY:
            raise PayloadTooLarge(f"A delivery is at most {MAX_DELIVERY >> 20} MiB.")
    return await run_in_threadpool(_deliver, platform, app, dict(request.headers), body)


def _deliver(platform: Platform, name: str, headers: dict[str, str], body: bytes) -> HookResult:
    with platform.store.session() as s:
        found = service.for_app_name(s, name)
        if found is None:
            raise Unauthorized(REFUSED)
        app, link = found
        if not webhooks.verify(link.provider, link.secret, headers, body):
            raise Unauthorized(REFUSED)
        event = webhooks.parse(link.provider, headers, body)
        if event.kind == "ping":
            return HookResult(message=f"{app.name} listens to {link.branch} of this repository.")
        user = s.get(User, link.user_id)
        assert user is not None  # the foreign key cascades
        if event.kind == "push" and event.branch == link.branch:
            build = build_service.create(s, app, user, "", event.commit)
            job = (build.id, app.name, link.url, link.branch, event.commit)
        else:
            review = reviewapps.for_repo_app(s, app)
            if review is None or not review[1].autodeploy or event.kind == "ignored":
                what = event.reason or f"a {event.kind} event of {event.branch or 'no branch'}"
                return HookResult(message=f"Ignored {what}: {app.name} builds {link.branch}.")
            return _review(platform, user, (app.name, link.url), event)
    _fetches.submit(_fetch_and_build, platform, *job)
    return HookResult(message=f"Building {event.commit[:10]} of {link.branch}.", build=job[0])


def _review(
    platform: Platform, user: User, where: tuple[str, str], event: webhooks.Event
) -> HookResult:
    """Another branch pushed, or a pull request opened or updated: its review app builds;
    the branch deleted or the pull request closed: its review app goes."""
    closing = event.kind == "delete" or event.action == "closed"
    if closing:
        _fetches.submit(_destroy_review_app, platform, user, where[0], event.branch)
        return HookResult(message=f"Destroying the review app of {event.branch}, if any.")
    if event.kind == "pull_request" and event.action not in ("opened", "reopened", "synchronize"):
        return HookResult(message=f"Ignored pull request {event.action}.")
    _fetches.submit(_fetch_review, platform, user, where, event.branch, event.commit)
    return HookResult(message=f"Building the review app of {event.branch} ({event.commit[:10]}).")


def _fetch_review(
    platform: Platform, user: User, where: tuple[str, str], branch: str, commit: str
) -> None:
    app, url = where
    try:
        tar = _fetch(platform, app, url, branch, commit)
    except MoorageError as exc:
        platform.emit(app, "api", f"Review app of {branch} not deployed: {exc.message}")
        return
    try:
        reviewdeploy.deploy(platform, user, app, branch, (tar, f"SHA256:{_sha256(tar)}", commit))
    except Exception as exc:
        tar.unlink(missing_ok=True)
        said = exc.message if isinstance(exc, MoorageError) else "the platform failed"
        platform.emit(app, "api", f"Review app of {branch} not deployed: {said}")
        if not isinstance(exc, MoorageError):
            log.exception("review app of %s (%s) failed", branch, app)


def _destroy_review_app(platform: Platform, user: User, app: str, branch: str) -> None:
    with platform.store.session() as s:
        found = reviewapps.for_repo_app(s, apps.get(s, user, app))
        row = reviewapps.find(s, found[0], branch) if found is not None else None
        app_id = row.app_id if row is not None else None
    if app_id is not None:
        appremoval.remove(platform, user, app_id)


def _fetch_and_build(
    platform: Platform, build_id: str, app: str, url: str, branch: str, commit: str
) -> None:
    try:
        tar = _fetch(platform, app, url, branch, commit)
    except MoorageError as exc:
        with platform.store.session() as s:
            failed = s.get(Build, build_id)
            if failed is not None:
                failed.status, failed.message = ProofStatus.FAILED, str(exc)
        return
    with platform.store.session() as s:
        made = s.get(Build, build_id)
        if made is not None:
            made.source_checksum = f"SHA256:{_sha256(tar)}"
    platform.builder.submit(build_id, tar, app, commit)


def _fetch(platform: Platform, app: str, url: str, branch: str, commit: str) -> Path:
    """The commit's tree as a tar in the builds folder (from the app's mirror)."""
    mirrors = platform.settings.data_dir / "git-mirrors"
    return fetch_tar(mirrors, app, url, branch, commit, builds_folder(platform))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
