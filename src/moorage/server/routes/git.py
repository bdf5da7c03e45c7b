"""The apps' git remotes (``https://git.<domain>/<app>.git``, served here under
``/git/<app>.git/``): git's own ``git http-backend`` run as CGI, behind HTTP Basic auth with
an API token as the password (any user name), as Heroku's git remotes take it.

Only a user with access to the app reaches its repository: anyone else gets the 404 of a
missing app before a byte of the push is read or the repository is made. Request bodies
stream to the backend and its answer streams back (packs are never held in memory); a push
runs the platform's pre-receive hook (``moorage.gitpush.hook``): it refuses refs other than
the deploy branches (``MOORAGE_DEPLOY_BRANCHES``) and builds the deploy branch, whose build
output git shows as ``remote:`` lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from moorage.errors import NotFound, Unauthorized
from moorage.gitpush import repos
from moorage.server.deps import authenticate, client_address, token_from
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import apps, reviewapps
from moorage.server.store.models import User
from moorage.spec.gitpush import parse_cgi_head, split_cgi_head

router = api_router()
log = logging.getLogger("moorage.server")
SERVICES = ("info/refs", "git-upload-pack", "git-receive-pack")
CHUNK = 1 << 16
PASSED_HEADERS = {"content-encoding": "HTTP_CONTENT_ENCODING", "git-protocol": "GIT_PROTOCOL"}


class _CgiResponse(Response):
    """The backend's answer, streamed as it comes. Not a StreamingResponse: that one reads
    ``receive`` for a disconnect while the request body is still streaming to git."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: AsyncIterator[bytes]):
        super().__init__(status_code=status)
        self.raw_headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers]
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        async for chunk in self._body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _ask_for_credentials(message: str) -> Response:
    return Response(
        message + "\n",
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": 'Basic realm="moorage"'},
    )


@router.api_route("/git/{repo}/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def git_http(repo: str, path: str, request: Request) -> Response:
    """``GET info/refs``, ``POST git-upload-pack`` (fetch) and ``POST git-receive-pack``
    (push) of ``<app>.git``."""
    platform: Platform = request.app.state.platform
    if not repo.endswith(".git") or path not in SERVICES:
        raise NotFound(f"No such git resource: {request.url.path}.")
    token = token_from(request)
    if not token:
        return _ask_for_credentials("Authenticate with your API token as the password.")
    try:
        user = await run_in_threadpool(authenticate, request, platform, token)
    except Unauthorized as exc:
        return _ask_for_credentials(exc.message)
    name, review = await run_in_threadpool(_app_name, platform, user, repo.removesuffix(".git"))
    root = platform.settings.data_dir / "git"
    await run_in_threadpool(repos.ensure, root, name)
    env = _cgi_env(request, platform, user, name, path, token)
    if review:  # other branches make review apps (the hook asks the API), not refusals
        env["MOORAGE_REVIEW_APPS"] = "1"
    return await _run_backend(request, env)


def _app_name(platform: Platform, user: User, ident: str) -> tuple[str, bool]:
    """The app's name, and whether its repository's other branches make review apps."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = reviewapps.for_repo_app(s, app)
        return app.name, found is not None and found[1].autodeploy


def _loopback_api(platform: Platform) -> str:
    s = platform.settings
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(s.api_host, s.api_host)
    return f"http://{host}:{s.api_port}"


def _cgi_env(
    request: Request, platform: Platform, user: User, app: str, path: str, token: str
) -> dict[str, str]:
    root = platform.settings.data_dir / "git"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH_INFO": f"/{app}.git/{path}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": user.email,
        "REMOTE_ADDR": client_address(request),
        "MOORAGE_APP": app,
        "MOORAGE_API": _loopback_api(platform),
        "MOORAGE_DEPLOY_BRANCHES": ",".join(platform.settings.deploy_branches),
    }
    if path == "git-receive-pack":
        env["MOORAGE_PUSH_TOKEN"] = token  # for the hook's API calls only; never stored
    if request.headers.get("content-length", "").isdigit():
        env["CONTENT_LENGTH"] = request.headers["content-length"]
    for header, name in PASSED_HEADERS.items():
        if header in request.headers:
            env[name] = request.headers[header]
    return env


async def _run_backend(request: Request, env: dict[str, str]) -> Response:
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin and proc.stdout and proc.stderr
    feeder = asyncio.create_task(_feed(request, proc.stdin))
    errors = asyncio.create_task(proc.stderr.read(CHUNK))
    buffer, split = b"", None
    try:
        while (split := split_cgi_head(buffer)) is None:
            chunk = await proc.stdout.read(CHUNK)
            if not chunk:
                break
            buffer += chunk
    except ValueError:
        split = None
    if split is None:
        await _stop(proc, feeder)
        log.warning("git http-backend answered no headers: %s", (await errors)[:500])
        return Response("git failed; see the server log.\n", status_code=502)
    status, headers = parse_cgi_head(split[0])
    return _CgiResponse(status, headers, _rest(split[1], proc, feeder))


async def _feed(request: Request, stdin: asyncio.StreamWriter) -> None:
    try:
        async for chunk in request.stream():
            stdin.write(chunk)
            await stdin.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        stdin.close()


async def _rest(
    first: bytes, proc: asyncio.subprocess.Process, feeder: asyncio.Task[None]
) -> AsyncIterator[bytes]:
    assert proc.stdout
    try:
        if first:
            yield first
        while chunk := await proc.stdout.read(CHUNK):
            yield chunk
    finally:
        await _stop(proc, feeder)


async def _stop(proc: asyncio.subprocess.Process, feeder: asyncio.Task[None]) -> None:
    if proc.returncode is None:
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    if not feeder.done():
        feeder.cancel()
