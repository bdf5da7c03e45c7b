"""Facts about the platform (``/moorage/info``) and why an app's push failed."""

from __future__ import annotations

from pydantic import TypeAdapter

from moorage.client.api import Client, path
from moorage.schemas.info import PlatformInfo
from moorage.schemas.registry import PushFailure

_FAILURES = TypeAdapter(list[PushFailure])


def info(c: Client) -> PlatformInfo:
    """Where the API, the registry and the router are (and their HTTPS names, when on)."""
    return PlatformInfo.model_validate(c.request("GET", "/moorage/info"))


def push_failures(c: Client, app: str, within: float) -> list[PushFailure]:
    """The app's pushes that ran out of registry space in the last ``within`` seconds."""
    where = path("/apps/{}/moorage/push-failures", app) + f"?within={within:.0f}"
    return _FAILURES.validate_python(c.request("GET", where))
