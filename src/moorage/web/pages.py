"""The dashboard's routes under ``/dashboard``: thin, like the API's (parse, call a service,
render). Every page and JSON answer needs a session; every POST needs its CSRF token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, PackageLoader, select_autoescape

from moorage.errors import InvalidParams, MoorageError, NotFound, RateLimited, Unauthorized
from moorage.server.deps import PlatformDep, client_address, failed_logins, public_base
from moorage.server.platform import Platform
from moorage.server.services import apps, releases
from moorage.server.services.events import announce, converge
from moorage.server.services.formation import apply_updates
from moorage.server.services.logsessions import sse_events, while_allowed
from moorage.server.store.models import User
from moorage.web import sessions, views

router = APIRouter(prefix=sessions.PATH)
STATIC = Path(__file__).parent / "static"
ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
SOURCES = ("", "app", "router", "moorage")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_env = Environment(
    loader=PackageLoader("moorage.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


Viewer = tuple[User, sessions.Login]


def viewer(request: Request, platform: PlatformDep) -> Viewer:
    """The logged-in user, or Unauthorized (pages turn that into the login page)."""
    with platform.store.session() as s:
        found = sessions.find(s, request.cookies.get(sessions.COOKIE))
    if found is None:
        raise Unauthorized("Log in to the dashboard first.")
    return found


ViewerDep = Annotated[Viewer, Depends(viewer)]


def _html(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = _env.get_template(template).render(root=sessions.PATH, **context)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _back(url: str, *, msg: str = "", error: str = "") -> RedirectResponse:
    query = f"?msg={quote(msg)}" if msg else f"?error={quote(error)}" if error else ""
    return RedirectResponse(f"{sessions.PATH}{url}{query}", status_code=303, headers=HEADERS)


def _post(request: Request, login: sessions.Login, csrf: str | None) -> None:
    sessions.check_origin(request.headers.get("origin"), public_base(request))
    sessions.check_csrf(login, csrf)


def _page(
    request: Request, platform: Platform, template: str, build: Callable[..., dict[str, Any]]
) -> Response:
    """Render ``template`` for the session's user, or send the browser to the login page."""
    try:
        user, login = viewer(request, platform)
    except Unauthorized:
        return _back("/login")
    with platform.store.session() as s:
        context = build(s, user)
    context.update(
        login=login, msg=request.query_params.get("msg"), error=request.query_params.get("error")
    )
    return _html(template, **context)


# -- login ----------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _html("login.html", title="Log in", error=request.query_params.get("error"))


@router.post("/login")
def login(request: Request, platform: PlatformDep, token: Annotated[str, Form()] = "") -> Response:
    limiter, address = failed_logins(request), client_address(request)
    try:
        sessions.check_origin(request.headers.get("origin"), public_base(request))
        limiter.check(address)
        with platform.store.session() as s:
            cookie, _ = sessions.start(s, token)
    except MoorageError as exc:
        if isinstance(exc, Unauthorized) and token.strip():
            limiter.failed(address)
        page = _html("login.html", status=exc.status, title="Log in", error=exc.message)
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    resp = _back("/")
    resp.set_cookie(
        sessions.COOKIE,
        cookie,
        max_age=int(sessions.LIFETIME.total_seconds()),
        path=sessions.PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return resp


@router.post("/logout")
def logout(
    request: Request, platform: PlatformDep, who: ViewerDep, csrf: Annotated[str, Form()] = ""
) -> Response:
    _post(request, who[1], csrf)
    with platform.store.session() as s:
        sessions.end(s, request.cookies.get(sessions.COOKIE))
    resp = _back("/login")
    resp.delete_cookie(sessions.COOKIE, path=sessions.PATH, secure=True, httponly=True)
    return resp


# -- pages ----------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def apps_page(request: Request, platform: PlatformDep) -> Response:
    return _page(
        request,
        platform,
        "apps.html",
        lambda s, user: {"title": "Apps", "apps": views.app_rows(s, platform, user)},
    )


def _app_page(
    request: Request, platform: Platform, app: str, template: str, **extra: Any
) -> Response:
    def build(s: Any, user: User) -> dict[str, Any]:
        found = apps.get(s, user, app)
        context: dict[str, Any] = {"title": found.name, "app": found.name, "tab": template[:-5]}
        for key, make in extra.items():
            context[key] = make(s, found)
        return context

    try:
        return _page(request, platform, template, build)
    except (NotFound, MoorageError) as exc:
        return _html("error.html", status=exc.status, title="Not found", error=exc.message)


@router.get("/apps/{app}", response_class=HTMLResponse)
def overview_page(request: Request, platform: PlatformDep, app: str) -> Response:
    return _app_page(
        request, platform, app, "overview.html", info=lambda s, a: views.overview(s, platform, a)
    )


@router.get("/apps/{app}/activity", response_class=HTMLResponse)
def activity_page(request: Request, platform: PlatformDep, app: str) -> Response:
    return _app_page(
        request, platform, app, "activity.html", releases=lambda s, a: views.activity(s, a)
    )


@router.get("/apps/{app}/logs", response_class=HTMLResponse)
def logs_page(request: Request, platform: PlatformDep, app: str) -> Response:
    source = request.query_params.get("source", "")
    dyno = request.query_params.get("dyno", "")
    return _app_page(
        request,
        platform,
        app,
        "logs.html",
        filters=lambda s, a: {"source": source, "dyno": dyno, "sources": SOURCES},
    )


@router.get("/apps/{app}/metrics", response_class=HTMLResponse)
def metrics_page(request: Request, platform: PlatformDep, app: str) -> Response:
    span = views.RANGES.get(request.query_params.get("range", "1h"), views.RANGES["1h"])
    return _app_page(
        request,
        platform,
        app,
        "metrics.html",
        span=lambda s, a: span.name,
        data=lambda s, a: views.charts(platform, a.name, span),
    )


# -- actions --------------------------------------------------------------------------------
@router.post("/apps/{app}/scale")
def scale(
    request: Request,
    platform: PlatformDep,
    who: ViewerDep,
    app: str,
    type: Annotated[str, Form()] = "",
    quantity: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    _post(request, who[1], csrf)
    try:
        apply_updates(platform, who[0], app, [{"type": type, "quantity": quantity}])
    except MoorageError as exc:
        return _back(f"/apps/{quote(app)}", error=exc.message)
    return _back(f"/apps/{quote(app)}", msg=f"Scaled {type} to {quantity}.")


@router.post("/apps/{app}/rollback")
def rollback(
    request: Request,
    platform: PlatformDep,
    who: ViewerDep,
    app: str,
    release: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    user, login = who
    _post(request, login, csrf)
    try:
        with platform.store.session() as s:
            rel = releases.rollback(s, apps.get(s, user, app), user, release)
            out = releases.view(rel, rel.version)
    except MoorageError as exc:
        return _back(f"/apps/{quote(app)}/activity", error=exc.message)
    announce(platform, out, user)
    converge(platform)
    return _back(f"/apps/{quote(app)}/activity", msg=f"Rolled back to v{release}: v{out.version}.")


# -- JSON and streams -----------------------------------------------------------------------
@router.get("/apps/{app}/config/{key}")
def reveal(platform: PlatformDep, who: ViewerDep, app: str, key: str) -> JSONResponse:
    """One config value, fetched only when the user asks to see it."""
    with platform.store.session() as s:
        config = apps.get(s, who[0], app).config
    if key not in config:
        raise NotFound(f"{app} has no config var {key}.")
    return JSONResponse({"key": key, "value": config[key]}, headers=HEADERS)


@router.get("/apps/{app}/logs/stream")
def log_stream(
    request: Request, platform: PlatformDep, who: ViewerDep, app: str
) -> StreamingResponse:
    source = request.query_params.get("source") or None
    dyno = request.query_params.get("dyno") or None
    if source not in (None, *SOURCES):
        raise InvalidParams(f"Unknown source {source}: choose app, router or moorage.")
    with platform.store.session() as s:
        found = apps.get(s, who[0], app)
        name, app_id = found.name, found.id
    follower = platform.logs.follow(name, lines=100, dyno=dyno, source=source)

    def chunks() -> Iterator[bytes]:
        for batch in while_allowed(platform, app_id, who[0].id, follower):
            yield ("\n".join(batch) + "\n").encode() if batch else b""

    return StreamingResponse(sse_events(chunks()), media_type="text/event-stream", headers=HEADERS)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"No dashboard asset {name}.")
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=HEADERS)
