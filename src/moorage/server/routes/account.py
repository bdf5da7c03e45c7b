from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moorage.server.deps import PlatformDep, UserDep
from moorage.server.services import serialize

router = APIRouter()


@router.get("/account")
def account_info(user: UserDep) -> dict[str, Any]:
    return serialize.account(user)


@router.get("/moorage/info")
def platform_info(platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    """Facts a client needs: where the registry and the router are."""
    s = platform.settings
    return {
        "api_url": s.api_url,
        "registry": s.registry_host,
        "domain": s.domain,
        "router_port": s.router_port,
        "user": user.email,
    }
