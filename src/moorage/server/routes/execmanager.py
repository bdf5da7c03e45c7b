"""``heroku ps:exec``'s API side: the Heroku API calls it makes first, and the exec manager
it then asks for an SSH session (``HEROKU_EXEC_URL``, which ``moor info`` prints).

The exec manager is reached with Basic auth ``<app>:<API token>`` (the CLI sends the app as
the user name): ``PUT /api/v2/{dyno}`` with ``{"client_key": "ssh-rsa ..."}`` grants that key
one session in that dyno (server/sessions/sshgate.py) and answers where to connect and which
host key to expect; ``GET /api/v2`` lists the dynos a session can be opened in.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated

from fastapi import Body, Request

from moorage.errors import InvalidParams, NotFound
from moorage.schemas.execmanager import (
    AppFeature,
    AppFeatureUpdate,
    BuildpackInstallation,
    ExecDyno,
    ExecSession,
    ExecSessionCreate,
)
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.store.models import User
from moorage.spec.dyno import Dyno
from moorage.spec.status import DynoState

if TYPE_CHECKING:
    from moorage.server.sessions.sshgate import Gateway

router = api_router()
FEATURE = "runtime-heroku-exec"


@router.get("/apps/{ident}/buildpack-installations")
def buildpacks(ident: str, platform: PlatformDep, user: UserDep) -> list[BuildpackInstallation]:
    """Container apps have none (the CLI checks for the old exec buildpack)."""
    with platform.store.session() as s:
        apps.get(s, user, ident)
    return []


def _feature(app_id: str) -> AppFeature:
    return AppFeature(
        id=f"{app_id}-{FEATURE}",
        name=FEATURE,
        enabled=True,
        state="general",
        description="SSH sessions into dynos (heroku ps:exec), always on",
        display_name="Heroku Exec",
        doc_url="",
        feedback_email="",
    )


@router.get("/apps/{ident}/features/{name}")
def feature(ident: str, name: str, platform: PlatformDep, user: UserDep) -> AppFeature:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if name != FEATURE:
            raise NotFound(f"No feature {name}; this platform has {FEATURE}, always enabled.")
        return _feature(app.id)


@router.patch("/apps/{ident}/features/{name}")
def enable_feature(
    ident: str,
    name: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[AppFeatureUpdate | None, Body()] = None,
) -> AppFeature:
    """The feature is always enabled: the answer is the feature as it is."""
    return feature(ident, name, platform, user)


def _app_name(request: Request) -> str:
    """The user name of Basic auth: the app (``heroku ps:exec`` sends it so)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise InvalidParams(
            "Use Basic auth with the app as the user and the API token as password."
        )
    try:
        return base64.b64decode(value).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParams("The Basic auth header is not base64 of app:token.") from exc


def _gate(platform: Platform) -> Gateway:
    gate = platform.sshgate
    if gate is None or platform.reconciler is None:
        raise NotFound(
            "heroku ps:exec is not set up on this platform: its operator sets "
            "MOORAGE_EXEC_TUNNEL (see the README). `moor ps:exec` works meanwhile."
        )
    return gate


def _up(platform: Platform, user: User, ident: str) -> tuple[str, list[Dyno]]:
    with platform.store.session() as s:
        name = apps.get(s, user, ident).name
    assert platform.reconciler is not None
    running = platform.reconciler.dynos(name)
    return name, [d for d in running if d.state == DynoState.UP and not d.oneoff]


@router.get("/api/v2")
def sessions(request: Request, platform: PlatformDep, user: UserDep) -> list[ExecDyno]:
    _gate(platform)
    _, dynos = _up(platform, user, _app_name(request))
    return [ExecDyno(dyno_name=d.label) for d in dynos]


@router.put("/api/v2/{dyno}")
def open_session(
    dyno: str, request: Request, platform: PlatformDep, user: UserDep, body: ExecSessionCreate
) -> ExecSession:
    gate = _gate(platform)
    key = body.client_key
    if len(key) > 16384:
        raise InvalidParams(ExecSessionCreate.hint)
    app, dynos = _up(platform, user, _app_name(request))
    found = next((d for d in dynos if d.label == dyno), None)
    if found is None:
        raise NotFound(f"Dyno {dyno} of {app} is not up; see `heroku ps -a {app}`.")
    try:
        client_user = gate.grants.grant(app, dyno, key)
    except (ValueError, Exception) as exc:  # asyncssh.KeyImportError: not a public key
        raise InvalidParams(f"client_key is not an OpenSSH public key: {exc}") from exc
    return ExecSession(
        tunnel_host=gate.tunnel_host,
        client_user=client_user,
        proxy_public_key=gate.public_key(),
        dyno_ip=found.ip,
        dyno_name=dyno,
    )
