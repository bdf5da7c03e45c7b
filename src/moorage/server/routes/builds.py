"""Builds (Heroku's ``/apps/{app}/builds``): made by ``git push`` (the pre-receive hook
sends the pushed tree as a tar), listed, shown, their output streamed, and cancelled
(``POST /apps/{app}/builds/{build}/actions/cancel``: our extension, in the shape of Heroku's
``/dynos/{dyno}/actions/stop``; Heroku has no way to cancel a build)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from moorage.errors import Conflict, InvalidParams, NotFound, PayloadTooLarge
from moorage.schemas.builds import Build
from moorage.server.deps import PlatformDep, UserDep, public_base
from moorage.server.platform import Platform
from moorage.server.routes import api_router, non_json
from moorage.server.services import apps
from moorage.server.services import builds as service
from moorage.server.store.models import User
from moorage.spec.status import ProofStatus

router = api_router()
MAX_SOURCE = 512 << 20  # bytes of the pushed tree's tar
_HEX = set("0123456789abcdef")


def _with_stream(request: Request, out: Build) -> Build:
    out.output_stream_url = f"{public_base(request)}/apps/{out.app.name}/builds/{out.id}/output"
    return out


@router.post("/apps/{ident}/builds", status_code=201)
async def create_build(
    ident: str,
    request: Request,
    platform: PlatformDep,
    user: UserDep,
    version: str = Query("", max_length=64, description="The commit the tar was made from."),
) -> Build:
    """Build the tar sent as the body (``application/x-tar``: the pushed tree) and release
    it; ``output_stream_url`` streams the build's output (with the same Authorization)."""
    check_version(version)
    name = await run_in_threadpool(_app_name, platform, user, ident)
    tmp, checksum = await receive_tar(request, platform)
    try:
        out = await run_in_threadpool(_create, platform, user, name, checksum, version, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _with_stream(request, out)


def builds_folder(platform: Platform) -> Path:
    """Where the trees waiting to be built are kept (root's alone)."""
    folder = platform.settings.data_dir / "builds"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


async def receive_tar(request: Request, platform: Platform) -> tuple[Path, str]:
    """The request's body (a pushed tree's tar) in a file of the builds folder, and its
    ``SHA256:<hex>``; a body that is empty or too large is refused and leaves no file."""
    fd, tmp = tempfile.mkstemp(dir=builds_folder(platform), suffix=".tar")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_SOURCE:
                    raise PayloadTooLarge(
                        f"The pushed tree is larger than {MAX_SOURCE >> 20} MiB; keep large "
                        "files out of the repository."
                    )
                digest.update(chunk)
                f.write(chunk)
        if not size:
            raise InvalidParams("Send the tree to build as a tar (application/x-tar).")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), f"SHA256:{digest.hexdigest()}"


def check_version(version: str) -> str:
    if version and not set(version) <= _HEX:
        raise InvalidParams("version is the commit's hexadecimal id.")
    return version


def _app_name(platform: Platform, user: User, ident: str) -> str:
    with platform.store.session() as s:
        return apps.get(s, user, ident).name


def _create(
    platform: Platform, user: User, ident: str, checksum: str, version: str, source: Path
) -> Build:
    builder = platform.builder  # made first: making it fails the builds left pending
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        out = service.view(service.create(s, app, user, checksum, version), app, user)
    builder.submit(out.id, source, out.app.name, version)
    return out


@router.get("/apps/{ident}/builds")
def list_builds(ident: str, request: Request, platform: PlatformDep, user: UserDep) -> list[Build]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = [service.view(b, app) for b in service.list_for(s, app)]
    return [_with_stream(request, b) for b in found]


@router.get("/apps/{ident}/builds/{build}")
def build_info(
    ident: str, build: str, request: Request, platform: PlatformDep, user: UserDep
) -> Build:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        out = service.view(service.get(s, app, build), app)
    return _with_stream(request, out)


@router.post("/apps/{ident}/builds/{build}/actions/cancel")
def cancel_build(
    ident: str, build: str, request: Request, platform: PlatformDep, user: UserDep
) -> Build:
    """Cancel a build that waits in line or builds: it ends ``failed`` with the message
    "Build cancelled by <user>", releases nothing, and its ``git push`` fails. The answer
    comes once it has stopped (or after 60 s, still ``pending``). A build that has ended,
    or is releasing already, is a 409."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.get(s, app, build)
        if found.status != ProofStatus.PENDING:
            raise Conflict(
                f"Build {build} has ended already ({found.status}); there is nothing to cancel."
            )
        reason = f"Build cancelled by {user.email}."
    platform.builder.cancel(build, reason)
    platform.builder.wait(build, 60.0)
    return build_info(ident, build, request, platform, user)


@router.get(
    "/apps/{ident}/builds/{build}/output",
    response_class=StreamingResponse,
    responses=non_json("The build's output, live, until it is finished.", "text/plain"),
)
def build_output(ident: str, build: str, platform: PlatformDep, user: UserDep) -> StreamingResponse:
    """The build's output lines (kept for a while after it ends; then nothing)."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.get(s, app, build)
        if found.app_id != app.id:
            raise NotFound(f"{app.name} has no build {build}.")
    return StreamingResponse(
        _lines(platform.builder.follow(build)), media_type="text/plain; charset=utf-8"
    )


def _lines(lines: Iterator[str]) -> Iterator[bytes]:
    for line in lines:
        yield (line + "\n").encode()
