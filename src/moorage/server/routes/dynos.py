"""Dynos: list, restart, stop, one-off runs, and the exec/attach WebSockets."""

from __future__ import annotations

import json
from typing import Any

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from moorage.errors import InvalidParams, MoorageError, NotFound
from moorage.schemas.releases import Dyno as DynoShape
from moorage.schemas.releases import DynoCreate
from moorage.server.background.reconciler import Reconciler
from moorage.server.deps import PlatformDep, UserDep, ws_user
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import dynos as service
from moorage.server.services.events import converge
from moorage.server.sessions.dynos import DynoSessions
from moorage.server.store.models import User
from moorage.spec.dyno import Dyno
from moorage.spec.names import validate_config_key, validate_config_value
from moorage.spec.status import DynoState

router = api_router()
DEFAULT_SHELL = ["sh", "-c", "command -v bash >/dev/null && exec bash || exec sh"]


def _reconciler(platform: Platform) -> Reconciler:
    if platform.reconciler is None:
        raise NotFound("This API server runs no dynos.")
    return platform.reconciler


def _sessions(platform: Platform) -> DynoSessions:
    if platform.sessions is None:
        raise NotFound("This API server runs no dynos.")
    return platform.sessions


def _listing(platform: Platform, app_name: str) -> list[Dyno]:
    return _reconciler(platform).dynos(app_name)


@router.get("/apps/{ident}/dynos")
def list_dynos(ident: str, platform: PlatformDep, user: UserDep) -> list[DynoShape]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return [service.view(d, app) for d in _listing(platform, app.name)]


@router.get("/apps/{ident}/dynos/{name}")
def dyno_info(ident: str, name: str, platform: PlatformDep, user: UserDep) -> DynoShape:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(_listing(platform, app.name), name)
        if found is not None:
            return service.view(found, app)
    raise NotFound(f"No dyno {name} in {ident}. See `moor ps -a {ident}`.")


def _restart(platform: Platform, user: User, ident: str, target: str | None) -> dict[str, str]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        keys = service.restart(app, target)
        name = app.name
    platform.emit(name, "api", f"Restart {', '.join(keys) or 'nothing'} by user {user.email}")
    converge(platform)
    return {}


@router.delete("/apps/{ident}/dynos")
def restart_all(ident: str, platform: PlatformDep, user: UserDep) -> dict[str, str]:
    """Restart every dyno (Heroku answers ``{}``)."""
    return _restart(platform, user, ident, None)


@router.delete("/apps/{ident}/dynos/{target}")
def restart_one(ident: str, target: str, platform: PlatformDep, user: UserDep) -> dict[str, str]:
    """Restart one process type (``web``) or one dyno (``web.2``)."""
    return _restart(platform, user, ident, target)


@router.delete("/apps/{ident}/formation/{ptype}/dynos")
def restart_type(ident: str, ptype: str, platform: PlatformDep, user: UserDep) -> dict[str, str]:
    return _restart(platform, user, ident, ptype)


@router.post("/apps/{ident}/dynos/{name}/actions/stop")
def stop_dyno(ident: str, name: str, platform: PlatformDep, user: UserDep) -> DynoShape:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        dyno = _sessions(platform).find_dyno(app.name, name)
        out = service.view(dyno, app)
    _reconciler(platform).stop_dyno(dyno)
    return out


def _oneoff_env(body: DynoCreate) -> dict[str, str]:
    """The environment a one-off gets besides the app's config: the rules of config vars
    (it is the same environment); null and true values are left out."""
    env = {k: str(v) for k, v in (body.env or {}).items() if v is not None and v is not True}
    for key, value in env.items():
        validate_config_value(validate_config_key(key), value)
    return env


@router.post("/apps/{ident}/dynos", status_code=201)
def create_dyno(ident: str, platform: PlatformDep, user: UserDep, body: DynoCreate) -> DynoShape:
    """A one-off dyno (``run.N``): attached (a TTY over ``attach_url``) or detached."""
    env = _oneoff_env(body)
    attach = bool(body.attach)
    tty = not body.force_no_tty  # `heroku run --no-tty`
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        spec = service.oneoff_spec(
            s, app, body.command, size=body.size, env=env, attach=attach, tty=tty
        )
    dyno = _sessions(platform).start_oneoff(spec)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        out = service.view(dyno, app)
    if attach:
        out.attach_url = _attach_url(platform, app.name, spec.label, tty, env)
    return out


def _attach_url(platform: Platform, app: str, process: str, tty: bool, env: dict[str, str]) -> str:
    """``heroku run``'s TLS rendezvous (a one-use ticket); without one, the WebSocket that
    ``moor run`` uses."""
    if platform.rendezvous is None:
        base = platform.settings.api_url.replace("http", "ws", 1)
        return f"{base}/apps/{app}/dynos/{process}/attach"
    lines, columns = env.get("LINES", ""), env.get("COLUMNS", "")
    size = (int(lines) if lines.isdigit() else None, int(columns) if columns.isdigit() else None)
    return platform.rendezvous.issue(app, process, tty, size)


async def _deny(ws: WebSocket, exc: MoorageError) -> None:
    try:
        await ws.send_denial_response(JSONResponse(exc.body(), status_code=exc.status))
    except RuntimeError:  # the server cannot answer with HTTP: close with the reason
        await ws.close(code=1008, reason=exc.message[:120])


def _size(ws: WebSocket) -> tuple[int | None, int | None]:
    rows, cols = ws.query_params.get("rows", ""), ws.query_params.get("cols", "")
    return (int(rows) if rows.isdigit() else None, int(cols) if cols.isdigit() else None)


def _exec_command(raw: str | None) -> list[str]:
    if not raw:
        return DEFAULT_SHELL
    try:
        argv = json.loads(raw)
    except ValueError as exc:
        raise InvalidParams("command must be a JSON list of strings.") from exc
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidParams("command must be a non-empty JSON list of strings.")
    return argv


@router.websocket("/apps/{ident}/dynos/{name}/exec")
async def exec_ws(ws: WebSocket, ident: str, name: str) -> None:
    """``moor ps:exec``: a command (default: a shell) inside a running dyno, as its user."""
    from moorage.server.sessions.wsbridge import bridge

    platform: Platform = ws.app.state.platform
    rows, cols = _size(ws)
    try:
        user = await run_in_threadpool(ws_user, ws, platform)
        argv = _exec_command(ws.query_params.get("command"))
        tty = ws.query_params.get("tty", "1") != "0"

        def open_session() -> Any:
            with platform.store.session() as s:
                app_name = apps.get(s, user, ident).name
            sessions = _sessions(platform)
            dyno = sessions.find_dyno(app_name, name)
            if dyno.state != DynoState.UP:
                raise NotFound(f"Dyno {name} is {dyno.state}, not up; see `moor ps -a {app_name}`.")
            return sessions.open_exec(dyno, argv, tty=tty, rows=rows, cols=cols)

        session = await run_in_threadpool(open_session)
    except MoorageError as exc:
        await _deny(ws, exc)
        return
    await bridge(ws, session)


@router.websocket("/apps/{ident}/dynos/{name}/attach")
async def attach_ws(ws: WebSocket, ident: str, name: str) -> None:
    """``moor run``: attach to a one-off created by POST /dynos, start it, remove it after."""
    from moorage.server.sessions.wsbridge import bridge

    platform: Platform = ws.app.state.platform
    rows, cols = _size(ws)
    try:
        user = await run_in_threadpool(ws_user, ws, platform)

        def open_session() -> tuple[Any, Dyno]:
            with platform.store.session() as s:
                app_name = apps.get(s, user, ident).name
            sessions = _sessions(platform)
            dyno = sessions.find_dyno(app_name, name)
            if not dyno.oneoff or dyno.state != DynoState.STARTING:
                raise NotFound(f"{name} is not a one-off waiting to be attached.")
            tty = ws.query_params.get("tty", "1") != "0"
            return sessions.open_attach(dyno, tty=tty, rows=rows, cols=cols), dyno

        session, dyno = await run_in_threadpool(open_session)
    except MoorageError as exc:
        await _deny(ws, exc)
        return
    try:
        await bridge(ws, session)
    finally:
        await run_in_threadpool(_sessions(platform).finish_oneoff, dyno)
