"""An app's repository on GitHub, GitLab or Gitea (``/apps/{app}/repo-link``) and the webhook
those send their events to (``/hooks/{app}``): a push of the linked branch fetches that
commit from the linked URL and builds it like ``git push``.

The webhook has no token (the providers cannot send one): the delivery's signature under the
link's secret is its credential. An unknown app and a bad signature get the same answer, so
the endpoint tells strangers nothing about which apps exist.
"""

from __future__ import annotations

import hashlib
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
from moorage.server.services import apps
from moorage.server.services import builds as build_service
from moorage.server.services import repolinks as service
from moorage.server.store.models import Build, User
from moorage.spec.status import ProofStatus

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
        if event.kind != "push" or event.branch != link.branch:
            what = event.reason or f"a {event.kind} event of {event.branch or 'no branch'}"
            return HookResult(message=f"Ignored {what}: {app.name} builds {link.branch}.")
        user = s.get(User, link.user_id)
        assert user is not None  # the foreign key cascades
        build = build_service.create(s, app, user, "", event.commit)
        job = (build.id, app.name, link.url, link.branch, event.commit)
    _fetches.submit(_fetch_and_build, platform, *job)
    return HookResult(message=f"Building {event.commit[:10]} of {link.branch}.", build=job[0])


def _fetch_and_build(
    platform: Platform, build_id: str, app: str, url: str, branch: str, commit: str
) -> None:
    folder = platform.settings.data_dir / "builds"
    folder.mkdir(mode=0o700, exist_ok=True)
    try:
        tar = fetch_tar(
            platform.settings.data_dir / "git-mirrors", app, url, branch, commit, folder
        )
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
