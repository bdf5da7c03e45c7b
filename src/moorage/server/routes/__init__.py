"""Thin HTTP routes: take a body model, call a service inside one session, return a model.

Every router is an :func:`api_router`: it documents :data:`ERRORS`, the error answers any
operation may give, so the served OpenAPI spec says what a client meets (tests/badinput
fuzzes against it), and it refuses JSON bodies no service could store
(:func:`well_formed_json`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from moorage.errors import InvalidParams

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ErrorBody(BaseModel):
    """The Heroku-shaped body of every error answer (``MoorageError.body()``)."""

    id: str
    message: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be parsed, e.g. JSON nested too deep (`http_error`)."),
    401: _error("No credentials, or a token that matches no user (`unauthorized`)."),
    403: _error("Valid credentials without the right to do this (`forbidden`)."),
    404: _error("No such resource, or not visible to the caller (`not_found`)."),
    409: _error("Already exists, or in a state that forbids the change (`conflict`)."),
    413: _error("The request body is larger than the API accepts (`payload_too_large`)."),
    422: _error("Malformed input; the message says what to send (`invalid_params`)."),
    429: _error("Too many failed logins from this address; see Retry-After (`rate_limited`)."),
    503: _error("A platform component failed or is unreachable (`runtime_error`...)."),
    507: _error("The disk a component writes to is full (`storage_full`)."),
}


async def well_formed_json(request: HTTPConnection) -> None:
    """Refuse a JSON body with a lone UTF-16 surrogate (``"\\ud800"``): JSON can escape one,
    but it is no character, so no database, log line or process environment takes it.

    Only operations with a JSON body are checked, and FastAPI has read that body already:
    nothing more is read here (a dump upload streams past untouched). WebSockets (exec,
    attach) have no body."""
    if not isinstance(request, Request):
        return
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return
    raw = await request.body()
    if not _SURROGATE_ESCAPE.search(raw):
        return
    try:
        stack: list[tuple[Any, str]] = [(json.loads(raw), "The request body")]
    except ValueError:  # not JSON: the route gets bytes, and says what it wants
        return
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                shown = _SURROGATE.sub("\ufffd", key[:40])  # the message must be valid text
                stack += [(key, f"A key of {where}"), (item, f"{where}.{shown}")]
        elif isinstance(value, list):
            stack += [(item, f"{where}[{n}]") for n, item in enumerate(value)]
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise InvalidParams(
                f"{where[:120]} has a lone UTF-16 surrogate (an escape such as \\ud800), "
                "which is not a character; send valid Unicode text."
            )


def api_router() -> APIRouter:
    """A router of the API: documented errors, and JSON bodies checked at the edge."""
    return APIRouter(responses=ERRORS, dependencies=[Depends(well_formed_json)])


def non_json(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of an operation whose 200 is not JSON (a stream, a file, a PEM)."""
    content = {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}
    return {200: {"description": description, "content": content}}
