"""Formation: what runs of each process type (``/apps/{app}/formation``)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.releases import Formation, FormationBatch, FormationUpdate

_FORMATION = Shape(list[Formation])


def formation(c: Client, app: str) -> list[Formation]:
    return _FORMATION.validate_python(c.request("GET", path("/apps/{}/formation", app)))


def update(c: Client, app: str, updates: list[FormationUpdate]) -> list[Formation]:
    """Apply all ``updates`` or none; the answer holds the process types they touched. Only
    the fields an update sets are sent."""
    body = FormationBatch(updates=updates).model_dump(mode="json", exclude_none=True)
    return _FORMATION.validate_python(c.request("PATCH", path("/apps/{}/formation", app), body))
