"""Releases: list, show, roll back (``/apps/{app}/releases``)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.releases import Release, ReleaseRollback

_RELEASES = Shape(list[Release])


def releases(c: Client, app: str) -> list[Release]:
    """The app's releases, oldest first."""
    return _RELEASES.validate_python(c.request("GET", path("/apps/{}/releases", app)))


def release(c: Client, app: str, ident: str) -> Release:
    """One release, by id, version number or ``vN``."""
    return Release.model_validate(c.request("GET", path("/apps/{}/releases/{}", app, ident)))


def rollback(c: Client, app: str, target: str) -> Release:
    """A new release with ``target``'s images and config."""
    body = ReleaseRollback(release=target).model_dump(mode="json")
    return Release.model_validate(c.request("POST", path("/apps/{}/releases", app), body))
