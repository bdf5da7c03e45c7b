"""create_app(): the FastAPI application of the control plane."""

from __future__ import annotations

import logging
import typing

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from moorage import __version__
from moorage.errors import MoorageError, RateLimited, Unauthorized
from moorage.schemas.base import Body
from moorage.server.deps import get_user
from moorage.server.http import limits, ranges
from moorage.server.platform import Platform
from moorage.server.routes import (
    access,
    account,
    addons,
    apps,
    backups,
    builds,
    certs,
    config_vars,
    domains,
    drains,
    dynos,
    execmanager,
    formation,
    git,
    image_releases,
    logs,
    metrics,
    pipelines,
    registry_auth,
    releases,
    repolinks,
    reviewapps,
    schedules,
    volumes,
)
from moorage.server.services import apps as app_service
from moorage.server.services.ratelimit import FailedLogins
from moorage.web import pages

log = logging.getLogger("moorage.server")


def create_app(platform: Platform) -> FastAPI:
    api = FastAPI(
        title="Moorage Platform API",
        version=__version__,
        description="Heroku Platform API v3 shapes, served by Moorage.",
    )
    api.state.platform = platform
    api.state.failed_logins = FailedLogins(window=platform.settings.login_window)
    modules = (
        account,
        access,
        apps,
        config_vars,
        formation,
        releases,
        image_releases,
        builds,
        git,
        repolinks,
        reviewapps,
        dynos,
        addons,
        backups,
        logs,
        drains,
        domains,
        certs,
        schedules,
        metrics,
        registry_auth,
        volumes,
        execmanager,
        pipelines,
    )
    for module in modules:
        api.include_router(module.router)
    api.include_router(pages.router, include_in_schema=False)
    api.add_middleware(ranges.RangeMiddleware)
    api.add_middleware(limits.BodyLimitMiddleware)
    _answer_errors(api)
    return api


def _answer_errors(api: FastAPI) -> None:
    """Every error as Heroku's ``{"id", "message"}`` body with its status."""

    @api.exception_handler(MoorageError)
    async def _moorage_error(_: Request, exc: MoorageError) -> JSONResponse:
        headers: dict[str, str] | None = None
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": 'Bearer realm="moorage"'}
        elif isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        hidden = await run_in_threadpool(_app_not_visible, request)
        if hidden is not None:  # another user's app is missing, whatever the body says
            return await _moorage_error(request, hidden)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = f"Invalid request: {first.get('msg', 'malformed body')} at {where}."
        hint = _body_hint(request)
        if hint and first.get("loc", ("",))[0] == "body":
            msg = f"{msg} {hint}"
        return JSONResponse({"id": "invalid_params", "message": msg}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            msg = f"No such resource: {request.method} {request.url.path}."
            return JSONResponse({"id": "not_found", "message": msg}, status_code=404)
        if exc.status_code == 405:
            msg = f"{request.method} is not supported on {request.url.path}."
            return JSONResponse({"id": "method_not_allowed", "message": msg}, status_code=405)
        body = {"id": "http_error", "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        body = {"id": "internal_error", "message": "Internal server error; see the server log."}
        return JSONResponse(body, status_code=500)


def _body_hint(request: Request) -> str:
    """What the operation's body model says to send (:attr:`moorage.schemas.base.Body.hint`)."""
    field = getattr(request.scope.get("route"), "body_field", None)
    info = getattr(field, "field_info", None)
    model = getattr(info, "annotation", None)
    for candidate in typing.get_args(model) or (model,):
        if isinstance(candidate, type) and issubclass(candidate, Body):
            return candidate.hint
    return ""


def _app_not_visible(request: Request) -> MoorageError | None:
    """The error a route on ``/apps/{ident}/...`` gives for an app the caller may not see
    (404, as for one that does not exist): bodies are checked before the route runs, and
    a malformed one must not tell another user's app from a missing one."""
    ident = request.path_params.get("ident")
    if not isinstance(ident, str):
        return None
    platform: Platform = request.app.state.platform
    try:
        user = get_user(request, platform)
        with platform.store.session() as s:
            app_service.get(s, user, ident)
    except MoorageError as exc:
        return exc
    return None
