"""Prometheus exposition: ``/metrics`` (every app the token may use) and
``/apps/{app}/metrics`` (one app). Scrape with ``authorization: {credentials: <token>}``."""

from __future__ import annotations

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from moorage import __version__
from moorage.errors import ComponentFailed
from moorage.server.background.metrics import Exposition
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router, non_json
from moorage.server.services import apps

router = api_router()
EXPOSITION = non_json("Prometheus text exposition.", CONTENT_TYPE_LATEST.split(";")[0])


def _expose(platform: Platform, names: set[str]) -> Response:
    if platform.metrics is None:
        raise ComponentFailed("Metrics are not collected by this server.")
    registry = CollectorRegistry(auto_describe=False)
    timings = {}
    if platform.reconciler is not None:
        timings["reconcile_pass"] = platform.reconciler.pass_seconds
        timings["router_update"] = platform.reconciler.router_seconds
    registry.register(Exposition(platform.metrics, names, __version__, timings))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics", response_class=Response, responses=EXPOSITION)
def platform_metrics(platform: PlatformDep, user: UserDep) -> Response:
    with platform.store.session() as s:
        names = {a.name for a in apps.list_for(s, user)}
    return _expose(platform, names)


@router.get("/apps/{ident}/metrics", response_class=Response, responses=EXPOSITION)
def app_metrics(ident: str, platform: PlatformDep, user: UserDep) -> Response:
    with platform.store.session() as s:
        name = apps.get(s, user, ident).name
    return _expose(platform, {name})
