"""Releases from prebuilt images (``/apps/{app}/image-releases``) and the registry
credentials an app pulls them with (``/apps/{app}/registry-logins``)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.images import (
    ImageRelease,
    ImageReleaseCreate,
    ImageUpdate,
    RegistryHost,
    RegistryLogin,
    RegistryLoginSet,
)
from moorage.schemas.registry import PushFailure

_LOGINS = Shape(list[RegistryLogin])

_FAILURES = Shape(list[PushFailure])


def start_image_release(c: Client, app: str, updates: list[ImageUpdate]) -> ImageRelease:
    """Start a copy-and-release job; it answers at once, pending."""
    body = ImageReleaseCreate(updates=updates).model_dump(mode="json", exclude_none=True)
    return ImageRelease.model_validate(
        c.request("POST", path("/apps/{}/image-releases", app), body)
    )


def image_release(c: Client, app: str, job: str) -> ImageRelease:
    """How far job ``job`` got."""
    return ImageRelease.model_validate(
        c.request("GET", path("/apps/{}/image-releases/{}", app, job))
    )


def registry_logins(c: Client, app: str) -> list[RegistryLogin]:
    return _LOGINS.validate_python(c.request("GET", path("/apps/{}/registry-logins", app)))


def registry_login(c: Client, app: str, host: str, username: str, password: str) -> RegistryLogin:
    body = RegistryLoginSet(username=username, password=password).model_dump()
    where = path("/apps/{}/registry-logins/{}", app, host)
    return RegistryLogin.model_validate(c.request("PUT", where, body))


def registry_logout(c: Client, app: str, host: str) -> RegistryHost:
    where = path("/apps/{}/registry-logins/{}", app, host)
    return RegistryHost.model_validate(c.request("DELETE", where))


def push_failures(c: Client, app: str, within: float) -> list[PushFailure]:
    """The app's pushes that ran out of registry space in the last ``within`` seconds."""
    where = path("/apps/{}/moorage/push-failures", app) + f"?within={within:.0f}"
    return _FAILURES.validate_python(c.request("GET", where))
