"""Dynos: list, restart, stop, one-off runs (``/apps/{app}/dynos``), and the WebSocket URLs
of ``moor run`` and ``moor ps:exec`` (client/terminal.py speaks to them)."""

from __future__ import annotations

from urllib.parse import urlencode

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.releases import Dyno, DynoCreate

_DYNOS = Shape(list[Dyno])


def dynos(c: Client, app: str) -> list[Dyno]:
    return _DYNOS.validate_python(c.request("GET", path("/apps/{}/dynos", app)))


def restart(c: Client, app: str, target: str | None = None) -> None:
    """Restart every dyno, one process type (``web``) or one dyno (``web.2``)."""
    where = path("/apps/{}/dynos/{}", app, target) if target else path("/apps/{}/dynos", app)
    c.request("DELETE", where)


def stop(c: Client, app: str, dyno: str) -> Dyno:
    return Dyno.model_validate(c.request("POST", path("/apps/{}/dynos/{}/actions/stop", app, dyno)))


def create(c: Client, app: str, command: str, *, attach: bool, size: str | None) -> Dyno:
    """A one-off dyno running ``command``; ``attach``: created to be attached to."""
    body = DynoCreate(command=command, attach=attach, size=size).model_dump(exclude_none=True)
    return Dyno.model_validate(c.request("POST", path("/apps/{}/dynos", app), body))


def _ws(c: Client, where: str, query: dict[str, str]) -> str:
    base = c.api_url.replace("http", "ws", 1).rstrip("/") + where
    return base + ("?" + urlencode(query) if query else "")


def attach_url(c: Client, app: str, dyno: str, query: dict[str, str]) -> str:
    """The WebSocket that starts one-off ``dyno`` (made with ``attach``) and carries its
    terminal."""
    return _ws(c, path("/apps/{}/dynos/{}/attach", app, dyno), query)


def exec_url(c: Client, app: str, dyno: str, query: dict[str, str]) -> str:
    """The WebSocket of a command inside running ``dyno`` (``moor ps:exec``)."""
    return _ws(c, path("/apps/{}/dynos/{}/exec", app, dyno), query)
