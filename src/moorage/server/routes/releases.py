"""Releases: list, show, roll back, and the live output of a release phase."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterator

from fastapi import Request
from fastapi.responses import StreamingResponse

from moorage.errors import NotFound
from moorage.schemas.releases import Release, ReleaseRollback
from moorage.server.deps import PlatformDep, UserDep, public_base
from moorage.server.routes import api_router, non_json
from moorage.server.services import apps
from moorage.server.services import releases as service
from moorage.server.services.events import announce, converge
from moorage.spec.status import ReleaseStatus

router = api_router()


OUTPUT_GRACE = dt.timedelta(seconds=60)  # a release that ended: its output, this long


def _signature(platform: PlatformDep, release_id: str, token_id: str) -> str:
    message = f"release-output:{release_id}:{token_id}".encode()
    return f"{token_id}.{hmac.new(platform.secret, message, 'sha256').hexdigest()}"


def _with_stream(platform: PlatformDep, request: Request, out: Release) -> Release:
    """A pending release with a release phase gets ``output_stream_url``: the phase's
    output and the rollout, live (as Heroku gives it only when a release phase runs). The
    URL is bound to the caller's API token and ends with the release phase."""
    token_id = getattr(request.state, "api_token_id", "")
    pending = out.status == ReleaseStatus.PENDING
    if token_id and pending and (out.release_command or "release" in out.images):
        signature = _signature(platform, out.id, token_id)
        out.output_stream_url = f"{public_base(request)}/release-output/{out.id}/{signature}"
    return out


@router.get("/apps/{ident}/releases")
def list_releases(
    ident: str, request: Request, platform: PlatformDep, user: UserDep
) -> list[Release]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        cur = service.current(s, app)
        version = cur.version if cur else None
        rels = [service.view(r, version) for r in service.list_for(s, app)]
    return [_with_stream(platform, request, r) for r in rels]


@router.get("/apps/{ident}/releases/{release}")
def release_info(
    ident: str, release: str, request: Request, platform: PlatformDep, user: UserDep
) -> Release:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        cur = service.current(s, app)
        out = service.view(service.get(s, app, release), cur.version if cur else None)
    return _with_stream(platform, request, out)


@router.get(
    "/release-output/{release_id}/{signature}",
    response_class=StreamingResponse,
    responses=non_json("The release phase's output, live.", "text/plain"),
)
def release_output(release_id: str, signature: str, platform: PlatformDep) -> StreamingResponse:
    """The lines of a release's phase and rollout until it is live or failed.

    The URL is the credential (as Heroku's ``output_stream_url``): the Heroku CLI reads it
    without a token."""
    token_id = signature.partition(".")[0]
    expected = _signature(platform, release_id, token_id)
    gone = NotFound("No such release output stream (it ends with the release phase).")
    if not hmac.compare_digest(signature.encode(), expected.encode()):  # str: ASCII only
        raise gone
    with platform.store.session() as s:
        rel = service.by_id(s, release_id)
        if not service.output_allowed(s, rel, token_id, OUTPUT_GRACE):
            raise gone
        app_name, version = rel.app.name, rel.version
    return StreamingResponse(
        _release_lines(platform, release_id, app_name, version),
        media_type="text/plain; charset=utf-8",
    )


def _release_lines(
    platform: PlatformDep, release_id: str, app: str, version: int
) -> Iterator[bytes]:
    wanted = (f"[release.{version}]:", f"Release v{version}")
    follower = platform.logs.follow(app, lines=200)
    try:
        for batch in follower:
            shown = [line for line in batch if any(w in line for w in wanted)]
            if shown:
                yield ("\n".join(shown) + "\n").encode()
            with platform.store.session() as s:
                if service.by_id(s, release_id).status != ReleaseStatus.PENDING:
                    return
    finally:
        follower.close()


@router.post("/apps/{ident}/releases", status_code=201)
def rollback(
    ident: str, request: Request, platform: PlatformDep, user: UserDep, body: ReleaseRollback
) -> Release:
    """Heroku's rollback: ``{"release": <id or version>}`` makes a new release from it."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        rel = service.rollback(s, app, user, str(body.release))
        out = service.view(rel, rel.version)
    announce(platform, out, user)
    converge(platform)
    return _with_stream(platform, request, out)
