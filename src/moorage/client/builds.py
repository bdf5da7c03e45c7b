"""Builds from ``git push`` (``/apps/{app}/builds``)."""

from __future__ import annotations

from collections.abc import Iterator

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.builds import Build

_BUILDS = Shape(list[Build])


def builds(c: Client, app: str) -> list[Build]:
    """The app's latest builds, oldest first."""
    return _BUILDS.validate_python(c.request("GET", path("/apps/{}/builds", app)))


def build(c: Client, app: str, ident: str) -> Build:
    return Build.model_validate(c.request("GET", path("/apps/{}/builds/{}", app, ident)))


def output(c: Client, app: str, ident: str) -> Iterator[str]:
    """The build's output lines, live until it is finished (none once it is forgotten)."""
    return c.lines(path("/apps/{}/builds/{}/output", app, ident))


def cancel(c: Client, app: str, ident: str) -> Build:
    """Cancel a build waiting or building; answered once it has stopped."""
    return Build.model_validate(
        c.request("POST", path("/apps/{}/builds/{}/actions/cancel", app, ident))
    )
