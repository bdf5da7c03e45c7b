"""Log drains: list, add, remove."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.drains import Drain, DrainCreate

_DRAINS = Shape(list[Drain])


def drains(c: Client, app: str) -> list[Drain]:
    return _DRAINS.validate_python(c.request("GET", path("/apps/{}/log-drains", app)))


def drain_add(c: Client, app: str, url: str) -> Drain:
    body = DrainCreate(url=url).model_dump()
    return Drain.model_validate(c.request("POST", path("/apps/{}/log-drains", app), body))


def drain_remove(c: Client, app: str, ident: str) -> Drain:
    """Remove the drain with this id, URL or token."""
    answer = c.request("DELETE", path("/apps/{}/log-drains/{}", app, ident))
    return Drain.model_validate(answer)
