from __future__ import annotations

from fastapi import Response

from moorage.errors import NotFound
from moorage.schemas.apps import Account, PlatformInfo
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router, non_json
from moorage.server.services import auth

router = api_router()


@router.get("/account")
def account_info(user: UserDep) -> Account:
    return auth.view_account(user)


@router.get("/moorage/info")
def platform_info(platform: PlatformDep, user: UserDep) -> PlatformInfo:
    """Facts a client needs: where the registry and the router are."""
    s = platform.settings
    edge = bool(s.https_port)  # the HTTPS keys are sent only then
    return PlatformInfo(
        api_url=s.api_url,
        registry=s.registry_host,
        domain=s.domain,
        router_port=s.router_port,
        registry_full=platform.registry.nearly_full(),
        user=user.email,
        heroku_host=s.heroku_host if edge else None,
        https_api_url=s.public_api_url if edge else None,
        https_registry=s.public_registry if edge else None,
        https_port=s.https_port if edge else None,
        ca_path=str(s.tls_dir / "ca.crt") if edge else None,
    )


@router.get(
    "/moorage/ca.crt",
    response_class=Response,
    responses=non_json("The platform CA's certificate.", "application/x-pem-file"),
)
def platform_ca(platform: PlatformDep) -> Response:
    """The platform CA's certificate (public: clients need it before they trust anything)."""
    path = platform.settings.tls_dir / "ca.crt"
    if not platform.settings.https_port or not path.exists():
        raise NotFound("This platform serves no HTTPS (MOORAGE_HTTPS_PORT=0), so it has no CA.")
    return Response(path.read_bytes(), media_type="application/x-pem-file")
