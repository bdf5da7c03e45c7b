"""The registry's routes: Docker token auth (push/pull only on repositories of the caller's
apps), manifests read with Basic auth, and why an app's recent push failed."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time

from fastapi import Query, Request, Response

from moorage.errors import NotFound, StorageFull, Unauthorized
from moorage.registry.client import MANIFEST_TYPES
from moorage.registry.tokens import TOKEN_TTL, USER_TOKEN_TTL, Access, parse_scope
from moorage.schemas.registry import PushFailure, RegistryToken
from moorage.server.deps import (
    PlatformDep,
    UserDep,
    authenticate,
    client_address,
    failed_logins,
    token_from,
)
from moorage.server.engines import NODE_USER, is_node_login
from moorage.server.routes import api_router, non_json
from moorage.server.services import apps

router = api_router()
ALLOWED = ("pull", "push")


def _node_token(request: Request, platform: PlatformDep) -> RegistryToken | None:
    """A pull-only token for a Swarm node (user ``moorage-node``, see server/engines.py)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if user != NODE_USER:
        return None
    failed_logins(request).check(client_address(request))
    if not is_node_login(user, password, platform.secret):
        failed_logins(request).failed(client_address(request))
        raise Unauthorized("Invalid node credentials.")
    granted = []
    with platform.store.session() as s:
        known = {a.name for a in apps.all_apps(s)}
    for scope in request.query_params.getlist("scope"):
        parsed = parse_scope(scope)
        if parsed and parsed[0] == "repository" and parsed[1].split("/", 1)[0] in known:
            if "pull" in parsed[2] and parsed[1].count("/") == 1:
                granted.append(Access("repository", parsed[1], ("pull",)))
    return _answer(platform.issuer.issue(NODE_USER, granted))


def _answer(token: str, ttl: int = TOKEN_TTL) -> RegistryToken:
    issued = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return RegistryToken(token=token, access_token=token, expires_in=ttl, issued_at=issued)


@router.get("/registry/token")
def registry_token(request: Request, platform: PlatformDep) -> RegistryToken:
    node = _node_token(request, platform)
    if node is not None:
        return node
    scopes = request.query_params.getlist("scope")
    granted: list[Access] = []
    user = authenticate(request, platform, token_from(request))
    with platform.store.session() as s:
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None or parsed[0] != "repository":
                continue
            _, name, actions = parsed
            app_name = name.split("/", 1)[0]
            try:
                if apps.get(s, user, app_name).name != app_name:
                    continue  # by its id: repositories are named by the app's name only
            except NotFound:
                continue
            allowed = tuple(a for a in actions if a in ALLOWED)
            if "push" in allowed and (full := platform.registry.nearly_full()):
                raise StorageFull(full)
            if allowed and name.count("/") == 1:
                granted.append(Access("repository", name, allowed))
        subject = user.email
    return _answer(platform.issuer.issue(subject, granted, USER_TOKEN_TTL), USER_TOKEN_TTL)


@router.get(
    "/v2/{app}/{process_type}/manifests/{reference}",
    response_class=Response,
    responses=non_json(
        "The image manifest as the registry stores it (an OCI or Docker manifest or index).",
        *MANIFEST_TYPES.split(", "),
    ),
)
def manifest_with_basic_auth(
    app: str, process_type: str, reference: str, request: Request, platform: PlatformDep
) -> Response:
    """A manifest read with HTTP Basic ``:token``, as ``heroku container:release`` does.

    The edge sends ``registry.<domain>`` requests carrying Basic auth here; the caller
    must have access to the app, and the registry answers through our own pull token."""
    user = authenticate(request, platform, token_from(request))
    with platform.store.session() as s:
        apps.get(s, user, app)
    accept = request.headers.get("accept") or MANIFEST_TYPES
    resp = platform.registry.manifest(f"{app}/{process_type}", reference, accept)
    keep = ("content-type", "docker-content-digest", "etag")
    headers = {k: v for k, v in resp.headers.items() if k.lower() in keep}
    return Response(resp.content, status_code=resp.status_code, headers=headers)


@router.get("/apps/{ident}/moorage/push-failures")
def push_failures(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    within: float = Query(600.0, ge=0, le=86400, description="Seconds to look back."),
) -> list[PushFailure]:
    """The app's pushes that failed in the last ``within`` seconds because the registry's
    disk filled up (Docker shows only the registry's bare 500), with what to do."""
    with platform.store.session() as s:
        name = apps.get(s, user, ident).name
    if platform.push_failures is None:
        return []
    return [
        PushFailure(
            process_type=f.process_type,
            age=round(max(0.0, time.time() - f.at), 1),
            message=platform.registry.filled_during_push(f.repository),
        )
        for f in platform.push_failures.recent(name, within)
    ]
